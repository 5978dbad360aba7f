#!/usr/bin/env python3
"""Write the sentences that `relation train --holdout FRACTION --seed SEED` holds out of a
SemEval-2010 Task 8 training file, as SemEval blocks (id and sentence, label, comment), so
`relation eval` / `relation predict` can be run on exactly that held-out set.

The split is the baseline script's re-implementation of finetune's seeded SplitMix64 shuffle
(scripts/baselines/baseline-transformers-relation.py, `hold_out`). Check that both agree: evaluate a
run's export on the written file and compare with the run's last `eval_macro_f1` in
metrics.jsonl (equal to every digit when the sets are the same).

Usage: .venv/bin/python scripts/reproduce/semeval2010-heldout.py TRAIN_FILE.TXT SEED OUT [FRACTION=0.1]
"""

import importlib.util
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "baselines"))  # its siblings
spec = importlib.util.spec_from_file_location(
    "baseline", os.path.join(os.path.dirname(__file__), "..", "baselines", "baseline-transformers-relation.py"))
baseline = importlib.util.module_from_spec(spec)
spec.loader.exec_module(baseline)


def main(path, seed, out, fraction=0.1):
    _, held = baseline.hold_out(baseline.read_semeval(path), fraction, seed)
    ids = {example[0] for example in held}
    lines = open(path, encoding="utf-8").read().splitlines()
    written = 0
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        for i, line in enumerate(lines):
            sid, _, rest = line.partition("\t")
            if sid in ids and rest.startswith('"'):
                f.write("\n".join(lines[i:i + 3]) + "\n\n")
                written += 1
    os.replace(out + ".tmp", out)
    print(f"{written} held-out sentences of {path} (seed {seed}) written to {out}")


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]) if len(sys.argv) == 5 else 0.1)
