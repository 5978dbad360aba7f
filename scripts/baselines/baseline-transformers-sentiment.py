#!/usr/bin/env python3
"""The transformers side of the sentiment benchmarks: run_glue-style fine-tuning with Trainer.

Same recipe as `sentiment train`: AutoModelForSequenceClassification on the model directory,
the first MAX_TRAIN_SAMPLES training rows in file order, dynamic padding, truncation at
max_seq_length, AdamW (torch), linear schedule with warmup_ratio, weight decay, evaluation on
the whole validation file after every epoch. Prints one JSON line with the final and best
per-epoch accuracy, runtime, throughput and peak RSS (also written to --output).

Selection (`--holdout FRACTION`, the SST-2 recipe's way): the seeded part of the training file
that `sentiment train --holdout` holds out (scripts/baselines/splits.py) is the evaluation set
during training, the weights of its best evaluation are kept in memory, and after training the
final model and the selected one are each scored once on --validation
(`dev_accuracy_final`, `dev_accuracy_selected`). `--recipe benchmarks/recipes/sst2.toml` takes
every setting from the recipe (scripts/baselines/recipe.py).

Padding: dynamic by default (DataCollatorWithPadding); --pad-to-max-length pads every
sequence to max_seq_length, which is run_glue.py's default; --group-by-length is Trainer's
length-grouped sampler.

Run (from the repository root):
  .venv/bin/python scripts/baselines/baseline-transformers-sentiment.py --model data/models/all-MiniLM-L6-v2 \
      --train ../shared/data/sst2/train.tsv --validation ../shared/data/sst2/dev.tsv \
      --max-train-samples 8000 --epochs 1 --batch-size 32 --lr 5e-5 --warmup-ratio 0.1 \
      --weight-decay 0.01 --seed 42 --output-dir /tmp/hf-sst2
"""

import argparse
import csv
import json
import os
import resource
import sys
import time

import numpy as np
import recipe
import torch
from selection import KeepBest
from splits import hold_out
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)


def read_tsv(path, limit=None):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[:limit] if limit else rows


class Encoded(torch.utils.data.Dataset):
    def __init__(self, rows, tokenizer, labels, max_len, pad_to_max):
        padding = "max_length" if pad_to_max else False
        self.items = [
            {**tokenizer(r["sentence"], truncation=True, max_length=max_len, padding=padding),
             "labels": labels.index(r["label"])}
            for r in rows
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def device_name(device):
    """What trained the model: "cpu", or the GPU's name for --device cuda."""
    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


# How a recipe (`--recipe benchmarks/recipes/sst2.toml`) reaches this script: the settings it
# takes as options, and those it always uses (Trainer's defaults here).
RECIPE_FLAGS = {"holdout": "--holdout", "learning_rate": "--lr", "num_train_epochs": "--epochs",
                "per_device_train_batch_size": "--batch-size", "warmup_ratio": "--warmup-ratio",
                "weight_decay": "--weight-decay", "max_seq_length": "--max-seq-length",
                "eval_steps": "--eval-steps"}
RECIPE_FIXED = {"lr_scheduler_type": "linear", "adam_beta1": 0.9, "adam_beta2": 0.999,
                "adam_epsilon": 1e-8, "max_grad_norm": 1.0, "eval_strategy": "steps",
                "group_by_length": False, "load_best_model_at_end": True}


def main():
    p = argparse.ArgumentParser()
    for name, kind, default in [("model", str, None), ("train", str, None), ("validation", str, None),
                                ("max-train-samples", int, None), ("epochs", float, 3.0), ("batch-size", int, 32),
                                ("lr", float, 5e-5), ("warmup-ratio", float, 0.0), ("weight-decay", float, 0.0),
                                ("seed", int, 42), ("max-seq-length", int, 128), ("device", str, "cpu"), ("output-dir", str, "/tmp/hf-run"),
                                ("output", str, None), ("eval-steps", int, None), ("holdout", float, None),
                                ("data", str, None)]:
        p.add_argument(f"--{name}", type=kind, default=default)
    p.add_argument("--pad-to-max-length", action="store_true")
    p.add_argument("--group-by-length", action="store_true")
    a = p.parse_args(recipe.from_argv(sys.argv[1:], RECIPE_FLAGS, RECIPE_FIXED,
                                      {"model": "--model", "data": "--data"}))
    if a.data:  # a GLUE directory: train.tsv and dev.tsv
        a.train = a.train or os.path.join(a.data, "train.tsv")
        a.validation = a.validation or os.path.join(a.data, "dev.tsv")
    train_rows = read_tsv(a.train, a.max_train_samples)
    dev_rows = read_tsv(a.validation)
    held_rows = None
    if a.holdout is not None:
        train_rows, held_rows = hold_out(train_rows, a.holdout, a.seed)
    labels = sorted({r["label"] for r in train_rows}, key=lambda x: int(x) if x.lstrip("-").isdigit() else x)
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    # Seeded before the model exists, as transformers' example scripts do: the head's initial
    # weights then come from --seed (Trainer seeds only later, for its own sampling).
    set_seed(a.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        a.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    args = TrainingArguments(
        output_dir=a.output_dir, learning_rate=a.lr, num_train_epochs=a.epochs,
        per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=64,
        # transformers 5: a float warmup_steps < 1 is a ratio, rounded up like ours.
        warmup_steps=a.warmup_ratio, weight_decay=a.weight_decay, seed=a.seed,
        # --eval-steps N evaluates every N optimizer steps, like `sentiment train --eval-strategy steps`.
        eval_strategy="steps" if a.eval_steps else "epoch", eval_steps=a.eval_steps, save_strategy="no", logging_steps=25, report_to=[],
        # transformers 5 names Trainer's length-grouped sampler this way (was group_by_length).
        train_sampling_strategy="group_by_length" if a.group_by_length else "random",
        dataloader_num_workers=0, use_cpu=(a.device == "cpu"))

    def accuracy(pred):
        return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}

    dev_data = Encoded(dev_rows, tokenizer, labels, a.max_seq_length, a.pad_to_max_length)
    keep = KeepBest("accuracy") if held_rows is not None else None
    trainer = Trainer(model=model, args=args, train_dataset=Encoded(train_rows, tokenizer, labels, a.max_seq_length, a.pad_to_max_length),
                      eval_dataset=(Encoded(held_rows, tokenizer, labels, a.max_seq_length, a.pad_to_max_length)
                                    if keep else dev_data),
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy,
                      callbacks=[keep] if keep else [])
    def score_dev(name):
        """The model's dev accuracy; its predictions written to OUTPUT_DIR/NAME as GLUE's
        submission format (index<TAB>prediction), as `sentiment predict --format glue`."""
        out = trainer.predict(dev_data)
        os.makedirs(a.output_dir, exist_ok=True)
        with open(os.path.join(a.output_dir, name), "w") as f:
            f.write("index\tprediction\n")
            for i, row in enumerate(np.argmax(out.predictions, -1)):
                f.write(f"{i}\t{labels[row]}\n")
        return out.metrics["test_accuracy"]

    start = time.time()
    train_out = trainer.train()
    runtime = time.time() - start
    selected = {}
    if keep:
        # The final model on the held-out part too (Trainer does not evaluate the last step
        # unless it falls on eval_steps; finetune does), then both models on the dev set.
        trainer.remove_callback(keep)  # the evaluations below are not selection candidates
        last = trainer.evaluate()
        keep.offer(trainer.state.global_step, trainer.state.epoch, last["eval_accuracy"], model)
        final_dev = score_dev("dev_predictions_final.tsv")
        model.load_state_dict(keep.state)
        selected_dev = score_dev("dev_predictions.tsv")
        selected = {"dev_accuracy_final": round(100 * final_dev, 2),
                    "dev_accuracy_selected": round(100 * selected_dev, 2),
                    "heldout_best_accuracy": round(100 * keep.best, 2), "heldout_best_step": keep.step,
                    "heldout_accuracy_per_evaluation": [[step, round(100 * v, 2)] for step, v in keep.curve],
                    "heldout_examples": len(held_rows), "holdout": a.holdout}
        metrics = {"eval_accuracy": selected_dev}
    else:
        metrics = trainer.evaluate()
        score_dev("dev_predictions.tsv")
    evals = [e for e in trainer.state.log_history if "eval_accuracy" in e]
    # The final evaluate() call above is appended to the log too (predict() is not); keep only
    # the ones made during training.
    evals = evals[:-1]
    per_epoch = [e["eval_accuracy"] for e in evals]
    result = {
        "accuracy": metrics["eval_accuracy"], "best_epoch_accuracy": max(per_epoch, default=None),
        "per_epoch_accuracy": per_epoch, "eval_steps": a.eval_steps,
        "evaluations": [{"step": e["step"], "epoch": e["epoch"], "accuracy": e["eval_accuracy"]} for e in evals],
        "train_runtime_s": train_out.metrics["train_runtime"],
        "train_samples_per_second": train_out.metrics["train_samples_per_second"],
        "wall_s": runtime, "torch_threads": torch.get_num_threads(), "device": device_name(a.device),
        # ru_maxrss is in KiB on Linux.
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "padding": "max_length" if a.pad_to_max_length else "dynamic", "group_by_length": a.group_by_length,
        "train_examples": len(train_rows), "dev_examples": len(dev_rows),
        "epochs": a.epochs, "batch_size": a.batch_size, "learning_rate": a.lr, "warmup_ratio": a.warmup_ratio,
        "weight_decay": a.weight_decay, "seed": a.seed, "max_seq_length": a.max_seq_length,
        "machine": f"{os.cpu_count()} CPUs",
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
        **selected,
    }
    print(json.dumps(result))
    os.makedirs(a.output_dir, exist_ok=True)
    with open(os.path.join(a.output_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    if a.output:
        with open(a.output, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
