#!/usr/bin/env python3
"""Writes tests/fixtures/sentiment/training-parity.json: the per-step training loss and
gradient norm of transformers' Trainer fine-tuning the tiny fixture encoder, started from the
exact weights `sentiment train` starts from, with dropout off and one full batch per step (so
the sampling order cannot matter). crates/sentiment/tests/training_parity.rs runs
`sentiment train` with the same settings and compares step by step, then compares the final
weights (written next to the JSON): forward, loss, backward, gradient clipping, AdamW with its
weight-decay groups and the warmup/decay schedule at once.

The classifier head is initialised by `sentiment train` from the seed; to give Trainer the
same start, this script first runs `sentiment train` for one step at learning rate 1e-30
(which leaves every weight as initialised, to within 1e-30) and loads its export.

Run (from the repository root, after `cargo build --release --workspace`):
  .venv/bin/python scripts/make-training-parity-fixture.py
"""

import csv
import json
import subprocess
import tempfile

import torch
from safetensors.torch import save_file
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

SETTINGS = {
    "model": "tests/fixtures/encoder/tiny-bert",
    "train": "data/sentiment/train.tsv",
    "max_train_samples": 16,
    "per_device_train_batch_size": 16,
    "max_seq_length": 64,
    "max_steps": 8,
    "learning_rate": 2e-3,
    "warmup_steps": 2,
    "lr_scheduler_type": "linear",
    "weight_decay": 0.01,
    # Below most of the tiny model's gradient norms (0.38 to 0.98): clipping is exercised.
    "max_grad_norm": 0.5,
    "seed": 7,
}
OUTPUT = "tests/fixtures/sentiment/training-parity.json"
# The weights after the last step, as transformers names them.
WEIGHTS = "tests/fixtures/sentiment/training-parity.safetensors"


def initial_weights(directory):
    s = SETTINGS
    subprocess.run(
        ["target/release/sentiment", "train", "--model", s["model"], "--train", s["train"],
         "--validation", s["train"], "--output-dir", directory, "--overwrite-output-dir",
         "--max-train-samples", str(s["max_train_samples"]),
         "--per-device-train-batch-size", str(s["per_device_train_batch_size"]),
         "--max-seq-length", str(s["max_seq_length"]), "--max-steps", "1",
         "--learning-rate", "1e-30", "--seed", str(s["seed"]), "--eval-strategy", "no",
         "--save-strategy", "no", "--hidden-dropout-prob", "0",
         "--attention-probs-dropout-prob", "0", "--classifier-dropout", "0"],
        check=True, stdout=subprocess.DEVNULL)


def main():
    s = SETTINGS
    with tempfile.TemporaryDirectory() as tmp:
        init = f"{tmp}/init"
        initial_weights(init)
        tokenizer = AutoTokenizer.from_pretrained(init)
        model = AutoModelForSequenceClassification.from_pretrained(
            init, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            classifier_dropout=0.0)
        label2id = model.config.label2id
        with open(s["train"], newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        rows = rows[: s["max_train_samples"]]
        items = [
            {**tokenizer(r["sentence"], truncation=True, max_length=s["max_seq_length"]),
             "labels": label2id[r["label"]]}
            for r in rows
        ]

        class Rows(torch.utils.data.Dataset):
            def __len__(self):
                return len(items)

            def __getitem__(self, i):
                return items[i]

        args = TrainingArguments(
            output_dir=f"{tmp}/hf", max_steps=s["max_steps"],
            per_device_train_batch_size=s["per_device_train_batch_size"],
            learning_rate=s["learning_rate"], warmup_steps=s["warmup_steps"],
            lr_scheduler_type=s["lr_scheduler_type"], weight_decay=s["weight_decay"],
            max_grad_norm=s["max_grad_norm"], seed=s["seed"], logging_steps=1,
            report_to=[], save_strategy="no", eval_strategy="no", use_cpu=True)
        trainer = Trainer(model=model, args=args, train_dataset=Rows(),
                          data_collator=DataCollatorWithPadding(tokenizer))
        trainer.train()
        state = {k: v.detach().contiguous() for k, v in trainer.model.state_dict().items()}
        save_file(state, WEIGHTS)
    steps = [
        {"step": h["step"], "loss": h["loss"], "grad_norm": float(h["grad_norm"])}
        for h in trainer.state.log_history if "loss" in h
    ]
    import transformers
    fixture = {
        "about": "transformers Trainer on the tiny fixture encoder from sentiment train's "
                 "initial weights, dropout off; written by "
                 "scripts/make-training-parity-fixture.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "settings": s,
        "steps": steps,
    }
    with open(OUTPUT, "w") as f:
        json.dump(fixture, f, indent=2)
        f.write("\n")
    print(json.dumps(steps, indent=1))


if __name__ == "__main__":
    main()
