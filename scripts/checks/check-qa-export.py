#!/usr/bin/env python3
"""Check a `qa train` run directory against transformers: the export loads as
AutoModelForQuestionAnswering with the same start/end logits, and finetune's windows are
run_qa's windows.

Tokenizes every question of DATA as run_qa does (question + context, truncation
only_second, max_length and doc_stride from the run, overflowing windows), checks that the
input ids of every window equal those in WINDOWS (`qa predict --logits` writes
window_logits.jsonl), runs the model and compares the logits. Exits non-zero if any window
differs or the max abs difference exceeds 1e-4.

Run: target/release/qa predict --model RUN_DIR --input DATA --output-dir OUT --logits
     .venv/bin/python scripts/checks/check-qa-export.py RUN_DIR DATA OUT/window_logits.jsonl
"""
import gzip
import inspect
import json
import os
import sys

import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer


def questions(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        if ".jsonl" in path:
            return [json.loads(line) for line in f if line.strip()]
        data = json.load(f)["data"]
    return [{"id": qa["id"], "question": qa["question"], "context": p["context"]}
            for a in data for p in a["paragraphs"] for qa in p["qas"]]


def main(run_dir, data, windows_path):
    config = json.load(open(os.path.join(run_dir, "config.json")))["finetune_qa"]
    max_len = json.load(open(os.path.join(run_dir, "training_args.json")))["max_seq_length"]
    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    model = AutoModelForQuestionAnswering.from_pretrained(run_dir).eval()
    # Token types where the model has them: not DistilBERT, and not RoBERTa / XLM-R (one
    # type; their tokenizers give none).
    use_types = ("token_type_ids" in inspect.signature(model.forward).parameters
                 and getattr(model.config, "type_vocab_size", 0) > 1)
    ours = [json.loads(line) for line in open(windows_path)]
    worst, windows, mismatched = 0.0, 0, 0
    with torch.no_grad():
        for q in questions(data):
            enc = tokenizer(q["question"].lstrip(), q["context"], truncation="only_second", max_length=max_len,
                            stride=config["doc_stride"], return_overflowing_tokens=True, padding=False,
                            return_token_type_ids=True)
            mine = [w for w in ours if w["id"] == q["id"]]
            if len(mine) != len(enc["input_ids"]):
                mismatched += 1
                continue
            for k, (ids, w) in enumerate(zip(enc["input_ids"], mine)):
                windows += 1
                if ids != w["input_ids"]:
                    mismatched += 1
                    continue
                inputs = {"input_ids": torch.tensor([ids])}
                if use_types:
                    inputs["token_type_ids"] = torch.tensor([enc["token_type_ids"][k]])
                out = model(**inputs)
                for theirs, key in [(out.start_logits[0], "start_logits"), (out.end_logits[0], "end_logits")]:
                    worst = max(worst, (theirs - torch.tensor(w[key])).abs().max().item())
    print(json.dumps({"windows": windows, "window_mismatches": mismatched, "max_abs_diff": worst}))
    sys.exit(0 if mismatched == 0 and worst <= 1e-4 else 1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
