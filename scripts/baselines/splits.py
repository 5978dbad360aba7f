"""The seeded held-out split of finetune's `train --holdout FRACTION` (crates/tuning/src/task/
holdout.rs), for the transformers-side scripts: the same examples are held out for the same
(number of examples, fraction, seed), so both sides of a benchmark select on the same data.

SplitMix64 from `seed ^ 0x5EED0F401D0` shuffles the indices (Fisher-Yates, as finetune's
sampler); the first round(n * fraction) are held out; both parts keep file order.
"""

import math

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.next() % (i + 1)
            items[i], items[j] = items[j], items[i]


def hold_out(examples, fraction, seed):
    """(training, held out), each in file order."""
    if not 0.0 < fraction < 1.0:
        raise SystemExit(f"--holdout must be between 0 and 1, got {fraction}")
    # Half away from zero, as Rust's f64::round (Python's round() goes to even: 2.5 -> 2).
    count = math.floor(len(examples) * fraction + 0.5)
    if count == 0 or count == len(examples):
        raise SystemExit(f"--holdout {fraction} of {len(examples)} examples leaves no training or no validation examples")
    order = list(range(len(examples)))
    SplitMix64(seed ^ 0x5EED0F401D0).shuffle(order)
    held = set(order[:count])
    return ([e for i, e in enumerate(examples) if i not in held],
            [e for i, e in enumerate(examples) if i in held])
