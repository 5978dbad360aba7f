#!/usr/bin/env python3
"""`ner score` against seqeval's default mode on conlleval-format prediction files.

For each file (lines `token ... gold predicted`, blank lines between sentences) prints
seqeval's micro precision / recall / F1 and `ner score`'s, to 4 decimals, and exits 1 if any
differs. Used on the CoNLL-2003 benchmark's test predictions (BENCHMARKS.md).

Run (from the repository root, after `cargo build --release --workspace`):
  .venv/bin/python scripts/checks/check-ner-score.py runs/conll/plain/test_predictions.conll ...
"""

import json
import subprocess
import sys

from seqeval.metrics import f1_score, precision_score, recall_score


def read(path):
    gold, predicted, g, p = [], [], [], []
    for line in open(path, encoding="utf-8"):
        fields = line.split()
        if not fields:
            if g:
                gold.append(g)
                predicted.append(p)
                g, p = [], []
            continue
        g.append(fields[-2])
        p.append(fields[-1])
    if g:
        gold.append(g)
        predicted.append(p)
    return gold, predicted


def main():
    failed = False
    for path in sys.argv[1:]:
        gold, predicted = read(path)
        theirs = [100 * f(gold, predicted) for f in (precision_score, recall_score, f1_score)]
        report = json.loads(subprocess.run(["target/release/ner", "score", "--predictions", path],
                                           capture_output=True, text=True, check=True).stdout)
        ours = [100 * report[k] for k in ("precision", "recall", "f1")]
        same = all(f"{a:.4f}" == f"{b:.4f}" for a, b in zip(theirs, ours))
        failed |= not same
        print(f"{path}: {len(gold)} sentences; seqeval P/R/F1 {theirs[0]:.4f} {theirs[1]:.4f} {theirs[2]:.4f}; "
              f"ner score {ours[0]:.4f} {ours[1]:.4f} {ours[2]:.4f}; {'same' if same else 'DIFFERENT'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
