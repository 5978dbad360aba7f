#!/usr/bin/env python3
"""`encode` against transformers on the same device: input ids and last_hidden_state on the
MiniLM reference texts (tests/fixtures/minilm/reference.json: accents, CJK, emoji, empty text,
a pair, inputs longer than 512 tokens), both sides in f32 (TF32 off on PyTorch's side).

The committed test (crates/encoder/tests/minilm.rs) compares with transformers' CPU outputs
stored in the fixture; this script computes transformers' side live, on the device given, for
a GPU build: `--device cuda --bin DIR` runs DIR/encode (built with the `cuda` feature) and
transformers on the GPU. Prints one line per case and writes the table with --output.
Exits non-zero if an id differs or a hidden state differs by more than --tolerance.

Run: .venv/bin/python scripts/checks/check-encoder-parity.py --device cpu --bin target/release
"""

import argparse
import json
import os
import subprocess
import sys
import time

import torch
from transformers import AutoModel, AutoTokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=os.path.join(ROOT, "data/models/all-MiniLM-L6-v2"))
    p.add_argument("--cases", default=os.path.join(ROOT, "tests/fixtures/minilm/reference.json"))
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (both sides)")
    p.add_argument("--encode-device", help="encode's device when it differs from PyTorch's "
                   "(wgpu: Burn's GPU kernels, e.g. on lavapipe, against transformers on the CPU)")
    p.add_argument("--bin", default=os.path.join(ROOT, "target/release"), help="the folder holding `encode`")
    # Six f32 layers, summation orders that differ (cuBLAS or MKL against Burn's kernels):
    # ~1e-5 measured on the CPU (crates/encoder/tests/minilm.rs holds 1e-4).
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--output", help="write the per-case table as JSON here")
    a = p.parse_args()

    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    cases = json.load(open(a.cases))["cases"]
    lines = []
    for case in cases:
        line = {"text": case["text"]}
        if case.get("text_pair") is not None:
            line["text_pair"] = case["text_pair"]
        lines.append(json.dumps(line))
    done = subprocess.run(
        [os.path.join(a.bin, "encode"), "--model", a.model, "--device", a.encode_device or a.device,
         "--batch-size", "1"],
        input="\n".join(lines) + "\n", capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"encode failed:\n{done.stderr[-3000:]}")
    ours = [json.loads(l) for l in done.stdout.splitlines() if l.strip()]

    tokenizer = AutoTokenizer.from_pretrained(a.model)
    model = AutoModel.from_pretrained(a.model).to(device).eval()
    rows, failed = [], False
    for case, got in zip(cases, ours, strict=True):
        enc = tokenizer(case["text"], case.get("text_pair"), truncation=True, max_length=512,
                        return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**{k: v.to(device) for k, v in enc.items()}).last_hidden_state[0].float().cpu()
        ids_equal = got["input_ids"] == enc["input_ids"][0].tolist()
        diff = (torch.tensor(got["last_hidden_state"]) - hidden).abs().max().item()
        rows.append({"name": case["name"], "tokens": len(got["input_ids"]), "ids_equal": ids_equal,
                     "max_abs_diff": diff})
        print(f"{case['name']:24} {len(got['input_ids']):4} tokens  ids {'equal' if ids_equal else 'DIFFER'}  "
              f"max abs diff {diff:.2e}")
        failed |= not ids_equal or diff > a.tolerance
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    if a.output:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
        json.dump({"command": " ".join(sys.argv), "commit": commit,
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "encode_device": a.encode_device or a.device,
                   "torch_device": a.device, "gpu": gpu, "torch": torch.__version__, "tolerance": a.tolerance,
                   "cases": rows}, open(a.output, "w"), indent=2)
    if failed:
        sys.exit(f"encoder parity failed on {a.encode_device or a.device} (tolerance {a.tolerance})")
    print(f"encoder parity, encode on {a.encode_device or a.device}, transformers on {a.device}"
          f"{f' ({gpu})' if gpu else ''}: {len(rows)} cases within {a.tolerance}")


if __name__ == "__main__":
    main()
