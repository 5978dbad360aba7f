#!/usr/bin/env python3
"""Check that an `ner train` run directory loads in transformers as
AutoModelForTokenClassification with the same logits.

Reads LOGITS (`ner predict --format logits`: per sentence its words, the label names and the
logits of each word's first sub-token), runs the exported model from RUN_DIR with its
tokenizer on the same words (is_split_into_words, as run_ner), takes each word's first
sub-token logits and compares. Exits non-zero if the max abs difference exceeds 1e-4, a
label name differs from the config's id2label, or a predicted tag differs.
Sentences longer than the model's window are skipped (finetune splits them into windows).

Run: target/release/ner predict --model RUN_DIR --input DATA --format logits --output LOGITS
     .venv/bin/python scripts/checks/check-ner-export.py RUN_DIR LOGITS
"""

import json
import sys

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer


def main(run_dir, logits_path, max_len=128):
    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    model = AutoModelForTokenClassification.from_pretrained(run_dir).eval()
    records = [json.loads(line) for line in open(logits_path)]
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    assert records[0]["labels"] == names, (records[0]["labels"], names)
    worst, disagreements, checked, skipped = 0.0, 0, 0, 0
    with torch.no_grad():
        for record in records:
            enc = tokenizer(record["words"], is_split_into_words=True, return_tensors="pt")
            if enc["input_ids"].shape[1] > max_len:
                skipped += 1
                continue
            out = model(**enc).logits[0]
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
