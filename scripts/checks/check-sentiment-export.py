#!/usr/bin/env python3
"""Check that a `sentiment train` run directory loads in transformers with the same logits.

Loads RUN_DIR with AutoModelForSequenceClassification + AutoTokenizer, runs every example of
DATA (a TSV with a `sentence` column) and compares the logits with those `sentiment predict`
wrote (PREDICTIONS, JSONL with `logits`). Exits non-zero if the max abs difference exceeds 1e-4
or any predicted label differs.

Run: target/release/sentiment predict --model RUN_DIR --input DATA --output PREDICTIONS
     .venv/bin/python scripts/checks/check-sentiment-export.py RUN_DIR DATA PREDICTIONS
"""

import csv
import inspect
import json
import os
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def main(run_dir, data, predictions):
    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    model = AutoModelForSequenceClassification.from_pretrained(run_dir).eval()
    # Any family: token types where the model has them (not DistilBERT, not RoBERTa / XLM-R),
    # and the length finetune used: max_seq_length capped at the model's longest input.
    use_types = ("token_type_ids" in inspect.signature(model.forward).parameters
                 and getattr(model.config, "type_vocab_size", 0) > 1)
    max_len = json.load(open(os.path.join(run_dir, "training_args.json")))["max_seq_length"]
    reserved = model.config.pad_token_id + 1 if model.config.model_type in ("roberta", "xlm-roberta") else 0
    max_len = min(max_len, model.config.max_position_embeddings - reserved)
    with open(data, newline="") as f:
        sentences = [row["sentence"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    ours = [json.loads(line)["logits"] for line in open(predictions)]
    assert len(ours) == len(sentences), (len(ours), len(sentences))
    worst, disagreements = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(sentences), 32):
            batch = sentences[start:start + 32]
            enc = tokenizer(batch, truncation=True, max_length=max_len, padding=True, return_tensors="pt",
                            return_token_type_ids=use_types)
            logits = model(**enc).logits
            mine = torch.tensor(ours[start:start + 32])
            worst = max(worst, (logits - mine).abs().max().item())
            disagreements += (logits.argmax(-1) != mine.argmax(-1)).sum().item()
    print(json.dumps({"examples": len(sentences), "max_abs_diff": worst, "label_disagreements": disagreements}))
    if worst > 1e-4 or disagreements:
        sys.exit("FAIL")


if __name__ == "__main__":
    main(*sys.argv[1:4])
