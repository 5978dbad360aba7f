#!/usr/bin/env python3
"""The PyTorch half of scripts/bench/bench-vs-pytorch: times one inference forward or one full
training step of AutoModelForSequenceClassification on random token ids.

Mirrors `step-bench` (crates/sentiment/src/bin/step-bench.rs): [CLS] ids... [SEP], every
position attended, 2 labels; inference in eval mode under torch.inference_mode(); the training
step in train mode (dropout on): forward with labels (cross-entropy), backward,
clip_grad_norm_(1.0), torch.optim.AdamW(lr 2e-5, weight decay 0.01 except biases and
LayerNorm weights, as Trainer groups them), zero_grad(set_to_none=True).
Prints one JSON object like step-bench's.

--device cuda runs on the GPU with TF32 off (f32 products in f32, as finetune's) and waits
for the GPU before each iteration's clock stops; --autocast bf16 runs the forward (and the
loss) under torch.autocast(bfloat16): PyTorch's reduced precision, on the CPU (AVX512-BF16)
or the GPU.

Run: .venv/bin/python scripts/bench/bench-pytorch-step.py --model data/models/all-MiniLM-L6-v2 \
         --mode train --batch-size 32 --seq-len 128
"""

import argparse
import contextlib
import json
import os
import statistics
import time

import torch
from transformers import AutoModelForSequenceClassification


def peak_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--mode", choices=["infer", "train"], default="infer")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--autocast", choices=["none", "bf16"], default="none")
    a = p.parse_args()

    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    on_gpu = device.type == "cuda"
    if on_gpu:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if a.autocast == "bf16"
        else contextlib.nullcontext()
    )

    def wait():
        if on_gpu:
            torch.cuda.synchronize(device)

    model = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=2).to(device)
    vocab = model.config.vocab_size
    ids = torch.randint(1000, vocab, (a.batch_size, a.seq_len))
    ids[:, 0] = 101  # [CLS]
    ids[:, -1] = 102  # [SEP]
    batch = {
        "input_ids": ids.to(device),
        "attention_mask": torch.ones_like(ids).to(device),
        "token_type_ids": torch.zeros_like(ids).to(device),
    }
    labels = (torch.arange(a.batch_size) % 2).to(device)

    seconds = []
    if a.mode == "infer":
        model.eval()
        with torch.inference_mode():
            for i in range(a.warmup + a.iters):
                start = time.perf_counter()
                with autocast:
                    logits = model(**batch).logits
                logits.sum().item()
                wait()
                if i >= a.warmup:
                    seconds.append(time.perf_counter() - start)
    else:
        model.train()
        no_decay = ("bias", "LayerNorm.weight")
        groups = [
            {
                "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
                "weight_decay": 0.01,
            },
            {
                "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
                "weight_decay": 0.0,
            },
        ]
        optimizer = torch.optim.AdamW(groups, lr=2e-5, betas=(0.9, 0.999), eps=1e-8)
        for i in range(a.warmup + a.iters):
            start = time.perf_counter()
            with autocast:
                loss = model(**batch, labels=labels).loss
            loss.item()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            wait()
            if i >= a.warmup:
                seconds.append(time.perf_counter() - start)

    median = statistics.median(seconds)
    print(
        json.dumps(
            {
                "framework": "pytorch",
                "mode": a.mode,
                "batch_size": a.batch_size,
                "seq_len": a.seq_len,
                "warmup": a.warmup,
                "iters": a.iters,
                "seconds": seconds,
                "median_s": median,
                "sequences_per_s": a.batch_size / median,
                "tokens_per_s": a.batch_size * a.seq_len / median,
                "peak_rss_bytes": peak_rss_bytes(),
                "device": a.device,
                "gpu": torch.cuda.get_device_name(device) if on_gpu else None,
                "peak_gpu_bytes": torch.cuda.max_memory_allocated(device) if on_gpu else None,
                "autocast": a.autocast,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "cpu_count": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
