#!/usr/bin/env python3
"""Check a `relation train --head cls` run directory against transformers, and finetune's
entity marking against the Python marking of scripts/baselines/baseline-transformers-relation.py.

Loads RUN_DIR with AutoModelForSequenceClassification, marks every sentence of DATA (SemEval
format) with the baseline script's `mark` (tokenizers + marker ids inserted), runs the model
and compares with the logits `relation predict --format jsonl` wrote (PREDICTIONS). Equal
logits (max abs diff <= 1e-4) mean both the export and the marking agree: a single differing
input id would change the logits far more than that.

Run: target/release/relation predict --model RUN_DIR --input DATA --format jsonl --output PREDICTIONS
     .venv/bin/python scripts/checks/check-relation-export.py RUN_DIR DATA PREDICTIONS
"""

import importlib.util
import json
import os
import sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForSequenceClassification, AutoTokenizer

BASELINES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "baselines")
sys.path.insert(0, BASELINES)  # the baseline imports its siblings (recipe.py, splits.py)
spec = importlib.util.spec_from_file_location(
    "baseline", os.path.join(BASELINES, "baseline-transformers-relation.py"))
baseline = importlib.util.module_from_spec(spec)
spec.loader.exec_module(baseline)


def main(run_dir, data, predictions):
    config = json.load(open(os.path.join(run_dir, "config.json")))
    assert config["finetune_relation"]["head"] == "cls", "only the cls head has a transformers class"
    tok = Tokenizer.from_file(os.path.join(run_dir, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    markers = config["finetune_relation"]["markers"]
    marker_ids = [tok.token_to_id(t) for t in markers]
    # transformers' own tokenizer of the export has the markers (added ones included) at the
    # same ids, inside the embedding matrix.
    auto = AutoTokenizer.from_pretrained(run_dir)
    assert auto.convert_tokens_to_ids(markers) == marker_ids, (auto.convert_tokens_to_ids(markers), marker_ids)
    assert len(auto) <= config["vocab_size"] and max(marker_ids) < config["vocab_size"]
    model = AutoModelForSequenceClassification.from_pretrained(run_dir).eval()
    examples = baseline.read_semeval(data)
    ours = [json.loads(line) for line in open(predictions)]
    assert len(ours) == len(examples)
    worst, disagreements = 0.0, 0
    with torch.no_grad():
        for example, record in zip(examples, ours):
            assert record["id"] == example[0]
            ids, _ = baseline.mark(example, tok, marker_ids, 128)
            theirs = model(input_ids=torch.tensor([ids])).logits[0]
            mine = torch.tensor(record["logits"])
            worst = max(worst, (theirs - mine).abs().max().item())
            disagreements += int(theirs.argmax() != mine.argmax())
    print(json.dumps({"examples": len(examples), "max_abs_diff": worst, "label_disagreements": disagreements,
                      "markers": dict(zip(markers, marker_ids))}))
    sys.exit(0 if worst <= 1e-4 and disagreements == 0 else 1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
