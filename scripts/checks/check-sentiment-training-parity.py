#!/usr/bin/env python3
"""Puts `sentiment train` and transformers' Trainer side by side step for step on SST-2, with
the randomness removed, to tell a difference in the training arithmetic from seed noise.

Both sides start from the same weights (`sentiment train`'s export after one step at learning
rate 1e-30, which leaves every weight as the seed initialised it, the classifier included),
train with dropout off (encoder, attention and classifier), and see the same batch every step:
the first SENTENCES rows of the training file are the whole training set, one batch, so the
sampling order cannot matter. Prints the per-step loss and gradient norm of both sides and
the largest differences; exits non-zero if a loss differs by more than --tolerance.

The committed regression test does the same on the tiny fixture encoder
(crates/sentiment/tests/training_parity.rs); this is the real model.

Run (from the repository root, after `cargo build --release --workspace`):
  .venv/bin/python scripts/checks/check-sentiment-training-parity.py \
      --output benchmarks/sst2-training-parity.json
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, \
    Trainer, TrainingArguments

from trainer_parity import step_table


def sentiment_train(a, train, out, max_steps, lr):
    subprocess.run(
        [os.path.join(a.bin, "sentiment"), "train", "--model", a.model, "--train", train,
         "--validation", train, "--output-dir", out, "--overwrite-output-dir",
         "--per-device-train-batch-size", str(a.sentences), "--max-steps", str(max_steps),
         "--learning-rate", str(lr), "--warmup-steps", str(a.warmup_steps),
         "--weight-decay", str(a.weight_decay), "--seed", str(a.seed), "--logging-steps", "1",
         "--eval-strategy", "no", "--save-strategy", "no", "--hidden-dropout-prob", "0",
         "--attention-probs-dropout-prob", "0", "--classifier-dropout", "0"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="data/models/all-MiniLM-L6-v2")
    p.add_argument("--train", default="../shared/data/sst2/train.tsv")
    p.add_argument("--sentences", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=42)
    # float32 on two implementations of the same sums: losses agree to ~1e-6.
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--output", help="write the per-step table as JSON here")
    p.add_argument("--bin", default="target/release", help="the folder holding `sentiment`")
    a = p.parse_args()

    with open(a.train, encoding="utf-8", newline="") as f:
        lines = [line for _, line in zip(range(a.sentences + 1), f)]  # the header and SENTENCES rows
    header, rows = lines[0].rstrip("\n").split("\t"), [l.rstrip("\n").split("\t") for l in lines[1:]]
    missing = [c for c in ("sentence", "label") if c not in header]
    if missing:
        sys.exit(f"{a.train}: line 1: no column {', '.join(missing)} (GLUE SST-2 TSV: sentence<TAB>label)")
    text, label = header.index("sentence"), header.index("label")
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    items = [{**tokenizer(r[text], truncation=True, max_length=128), "labels": int(r[label])} for r in rows]

    with tempfile.TemporaryDirectory() as tmp:
        first = f"{tmp}/first.tsv"
        with open(first, "w", encoding="utf-8", newline="") as f:
            f.writelines(lines)
        init, ours = f"{tmp}/init", f"{tmp}/ours"
        sentiment_train(a, first, init, 1, 1e-30)
        sentiment_train(a, first, ours, a.steps, a.lr)
        finetune_steps = [json.loads(line) for line in open(f"{ours}/metrics.jsonl")]
        finetune_steps = {r["step"]: r for r in finetune_steps if "loss" in r}

        model = AutoModelForSequenceClassification.from_pretrained(
            init, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
        args = TrainingArguments(
            output_dir=f"{tmp}/hf", max_steps=a.steps, per_device_train_batch_size=len(items),
            learning_rate=a.lr, warmup_steps=a.warmup_steps, weight_decay=a.weight_decay,
            seed=a.seed, logging_steps=1, report_to=[], save_strategy="no", eval_strategy="no",
            use_cpu=True)
        trainer = Trainer(model=model, args=args, train_dataset=items,
                          data_collator=DataCollatorWithPadding(tokenizer))
        trainer.train()
    steps, loss_diff, norm_diff = step_table(finetune_steps, trainer.state.log_history)
    print(f"{len(items)} sentences, {len(steps)} steps: max |loss diff| {loss_diff:.2e}, "
          f"max |grad norm diff| {norm_diff:.2e}")
    if a.output:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        report = {"command": " ".join(["scripts/checks/check-sentiment-training-parity.py"] + sys.argv[1:]),
                  "commit": commit, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "settings": vars(a),
                  "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                  "max_loss_diff": loss_diff, "max_grad_norm_diff": norm_diff, "steps": steps}
        with open(a.output + ".tmp", "w") as f:
            json.dump(report, f, indent=2)
        os.replace(a.output + ".tmp", a.output)
    if loss_diff > a.tolerance:
        sys.exit(f"losses differ by {loss_diff:.2e} > {a.tolerance}")


if __name__ == "__main__":
    main()
