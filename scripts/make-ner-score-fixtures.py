#!/usr/bin/env python3
"""Writes tests/fixtures/ner/edge-cases.expected.json: seqeval 1.2.2's scores of
tests/fixtures/ner/edge-cases.conlleval (hand-made: an entity at the sentence end, adjacent
same-type entities split by B-, I- after O, a type change mid-entity, a miss and a spurious
entity), in its default (conlleval) mode and in strict IOB2 mode. `ner score` must agree
to 4 decimals (crates/ner/tests/cli.rs).

    .venv/bin/python scripts/make-ner-score-fixtures.py
"""
import json
import pathlib
import sys

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/ner/edge-cases.conlleval")
gold, pred = [[]], [[]]
for line in path.read_text().splitlines():
    fields = line.split()
    if not fields:
        if gold[-1]:
            gold.append([]); pred.append([])
        continue
    gold[-1].append(fields[-2]); pred[-1].append(fields[-1])
if not gold[-1]:
    gold.pop(); pred.pop()

expected = {}
for mode, kwargs in [("conlleval", {}), ("strict", {"mode": "strict", "scheme": IOB2})]:
    report = classification_report(gold, pred, output_dict=True, zero_division=0, **kwargs)
    expected[mode] = {
        "precision": float(precision_score(gold, pred, zero_division=0, **kwargs)),
        "recall": float(recall_score(gold, pred, zero_division=0, **kwargs)),
        "f1": float(f1_score(gold, pred, zero_division=0, **kwargs)),
        "per_type": {k: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
                         "support": int(v["support"])}
                     for k, v in report.items() if not k.endswith("avg")},
    }
out = path.with_suffix(".expected.json")
out.write_text(json.dumps(expected, indent=2) + "\n")
print(out.read_text())
