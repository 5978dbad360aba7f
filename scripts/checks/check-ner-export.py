#!/usr/bin/env python3
"""Check that an `ner train` run directory loads in transformers as
AutoModelForTokenClassification with the same logits.

Reads LOGITS (`ner predict --format logits`: per sentence its words, the label names and the
logits of each word's first sub-token), runs the exported model from RUN_DIR with its
tokenizer on the same words (is_split_into_words, as run_ner), takes each word's first
sub-token logits and compares. Any encoder family: RoBERTa's tokenizer gets run_ner's
add_prefix_space, and each class gets the inputs it takes. Exits non-zero if the max abs difference exceeds 1e-4, a
label name differs from the config's id2label, or a predicted tag differs.
Sentences longer than the model's window are skipped (finetune splits them into windows).

Run: target/release/ner predict --model RUN_DIR --input DATA --format logits --output LOGITS
     .venv/bin/python scripts/checks/check-ner-export.py RUN_DIR LOGITS
"""

import inspect
import json
import os
import sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForTokenClassification, AutoTokenizer


def main(run_dir, logits_path):
    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    model = AutoModelForTokenClassification.from_pretrained(run_dir).eval()
    # Sentences that fit the window finetune used are compared whole: max_seq_length, capped
    # at the model's longest input (RoBERTa-style models reserve padding_idx + 1 positions).
    max_len = json.load(open(os.path.join(run_dir, "training_args.json")))["max_seq_length"]
    reserved = model.config.pad_token_id + 1 if model.config.model_type in ("roberta", "xlm-roberta") else 0
    max_len = min(max_len, model.config.max_position_embeddings - reserved)
    if model.config.model_type in ("roberta", "gpt2", "bloom", "deberta"):
        # run_ner loads these tokenizers with add_prefix_space=True.
        state = json.loads(tokenizer.backend_tokenizer.to_str())
        for part in ("pre_tokenizer", "post_processor"):
            node = state.get(part) or {}
            for n in node.get("pretokenizers") or node.get("processors") or [node]:
                if n and "add_prefix_space" in n:
                    n["add_prefix_space"] = True
        tokenizer._tokenizer = Tokenizer.from_str(json.dumps(state))
    # Token types where the model has them: not DistilBERT, and not RoBERTa / XLM-R (one
    # type; their tokenizers give none).
    accepted = {"input_ids", "attention_mask"}
    if ("token_type_ids" in inspect.signature(model.forward).parameters
            and getattr(model.config, "type_vocab_size", 0) > 1):
        accepted.add("token_type_ids")
    records = [json.loads(line) for line in open(logits_path)]
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    assert records[0]["labels"] == names, (records[0]["labels"], names)
    worst, disagreements, checked, skipped = 0.0, 0, 0, 0
    with torch.no_grad():
        for record in records:
            enc = tokenizer(record["words"], is_split_into_words=True, return_tensors="pt",
                            return_token_type_ids=True)
            if enc["input_ids"].shape[1] > max_len:
                skipped += 1
                continue
            out = model(**{k: v for k, v in enc.items() if k in accepted}).logits[0]
            seen = set()
            for position, word in enumerate(enc.word_ids()):
                if word is None or word in seen:
                    continue
                seen.add(word)
                theirs = out[position]
                ours = torch.tensor(record["logits"][word])
                worst = max(worst, (theirs - ours).abs().max().item())
                disagreements += int(theirs.argmax() != ours.argmax())
                checked += 1
    print(json.dumps({"words": checked, "sentences_skipped": skipped,
                      "max_abs_diff": worst, "tag_disagreements": disagreements}))
    sys.exit(0 if worst <= 1e-4 and disagreements == 0 else 1)


if __name__ == "__main__":
    main(*sys.argv[1:3])
