#!/usr/bin/env python3
"""Loads the export of the adding-a-task example (crates/tuning/tests/adding_a_task.rs) in
transformers' AutoModelForSequenceClassification and compares its outputs with the task's
`predict` on the same sentence pairs.

Run:
  ADDING_A_TASK_EXPORT=runs/similarity-export cargo test -p finetune-tuning --test adding_a_task
  .venv/bin/python scripts/checks/check-regression-export.py runs/similarity-export
Prints the class, problem_type, num_labels, the largest difference, and fails above 1e-4.
"""

import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

export = Path(sys.argv[1])
model = AutoModelForSequenceClassification.from_pretrained(export).eval()
tokenizer = AutoTokenizer.from_pretrained(export)
pairs = [json.loads(l) for l in (export / "input.jsonl").read_text().splitlines() if l.strip()]
ours = [json.loads(l)["score"] for l in (export / "predictions.jsonl").read_text().splitlines() if l.strip()]
largest = 0.0
for pair, score in zip(pairs, ours, strict=True):
    enc = tokenizer(pair["sentence1"], pair["sentence2"], truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        logit = model(**enc).logits[0, 0].item()
    largest = max(largest, abs(logit - score))
print(f"{type(model).__name__}, problem_type {model.config.problem_type}, num_labels "
      f"{model.config.num_labels}: {len(pairs)} pairs, max abs diff {largest:.2e}")
sys.exit(0 if largest < 1e-4 and model.config.problem_type == "regression" else 1)
