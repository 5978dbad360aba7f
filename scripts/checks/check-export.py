#!/usr/bin/env python3
"""Check that checkpoints written by the encoder crate load in transformers unchanged.

For each source model directory, runs `convert-checkpoint` (Rust) to write a fresh HF directory,
loads both the source and the export with transformers.AutoModel / AutoTokenizer, and compares
last_hidden_state on a few sentences. Exits non-zero if any difference exceeds 1e-6 or the
tokenizers disagree.

Run: scripts/setup-python && cargo build --release --workspace \
     && .venv/bin/python scripts/checks/check-export.py [MODEL_DIR ...]
Default sources: the tiny pytorch_model.bin fixture (bert. prefix, legacy names) and
all-MiniLM-L6-v2 when fetched.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = ROOT / "target" / "release" / "convert-checkpoint"
SENTENCES = [
    ("Hello world!", None),
    ("Café déjà vu in São Paulo 😍", None),
    ("How old are you?", "I am 6 years old."),
]


def hidden(model_dir):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    out = []
    for text, pair in SENTENCES:
        enc = tok(text, pair, return_tensors="pt")
        with torch.no_grad():
            out.append((enc["input_ids"][0].tolist(), model(**enc).last_hidden_state[0]))
    return out


def main(sources):
    worst = 0.0
    for src in sources:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([str(BIN), "--model", str(src), "--output", tmp], check=True)
            for (ids_a, a), (ids_b, b) in zip(hidden(src), hidden(tmp)):
                if ids_a != ids_b:
                    sys.exit(f"{src}: tokenizer of the export disagrees: {ids_a} vs {ids_b}")
                diff = (a - b).abs().max().item()
                worst = max(worst, diff)
                print(f"{src.name}: {len(ids_a)} tokens, max abs diff {diff:.3e}")
    if worst > 1e-6:
        sys.exit(f"FAIL: max abs diff {worst:.3e} > 1e-6")
    print(f"OK: exports load in transformers with identical hidden states (max abs diff {worst:.3e})")


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:]]
    if not args:
        args = [ROOT / "tests/fixtures/encoder/tiny-bert-bin"]
        minilm = ROOT / "data/models/all-MiniLM-L6-v2"
        if minilm.is_dir():
            args.append(minilm)
    main(args)
