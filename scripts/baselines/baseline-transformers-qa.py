#!/usr/bin/env python3
"""The transformers side of the SQuAD benchmark: run_qa-style fine-tuning with Trainer.

Same recipe as `qa train` (its defaults are run_qa's README recipe for SQuAD v1.1): question +
context pairs cut into windows of max_seq_length tokens with doc_stride tokens shared, the
context side truncated only; training labels are the answer's first and last tokens, or
[CLS] when the answer is not wholly inside the window; AutoModelForQuestionAnswering on the
model directory; AdamW, linear schedule, the first N questions of the training file when
--max-train-samples is given (as `qa train --max-train-samples`). Batches are padded to their
longest window (DataCollatorWithPadding), as finetune does; run_qa pads every window to 384,
which changes only the speed.

Evaluation: start/end logits of every window of the dev set, post-processed across the
windows of each question (the n_best_size best starts and ends per window, spans inside the
context, at most max_answer_length tokens, score = start + end logit, text cut from the
context by character offsets), scored with the official SQuAD v1.1 definition (implemented
here) and, as a cross-check, with `qa score` on the same predictions file.

Run (from the repository root, after `cargo build --release --workspace`):
  .venv/bin/python scripts/baselines/baseline-transformers-qa.py --model data/models/all-MiniLM-L6-v2 \
      --train ../shared/data/squad/train-v1.1-rebuilt.json.gz \
      --validation ../shared/data/squad/dev-v1.1.json.gz --max-train-samples 8000 \
      --epochs 2 --batch-size 12 --lr 3e-5 --seed 42 --output-dir runs/hf-squad
With --eval-only (no --train needed) the model is evaluated as it is, e.g. a `qa train`
export, to compare this post-processing and scorer with `qa eval` on the same model.
Prints one JSON line and writes it, predictions.json and the window logits' summary to
--output-dir.
"""

import argparse
import collections
import gzip
import json
import os
import re
import resource
import string
import subprocess
import sys
import time

import numpy as np
import recipe
import torch
from transformers import (AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)


def read_squad(path):
    """Questions in file order: (id, question, context, [answer texts], [answer starts])."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    questions = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = qa.get("answers", [])
                questions.append((qa["id"], qa["question"], paragraph["context"],
                                  [a["text"] for a in answers], [a["answer_start"] for a in answers]))
    return questions


def windows(questions, tokenizer, max_len, stride):
    """Tokenized windows; each knows its question and the context character span of each token."""
    enc = tokenizer([q[1].lstrip() for q in questions], [q[2] for q in questions], truncation="only_second",
                    max_length=max_len, stride=stride, return_overflowing_tokens=True,
                    return_offsets_mapping=True)
    out = []
    for i in range(len(enc["input_ids"])):
        sequence = enc.sequence_ids(i)
        offsets = [span if sequence[t] == 1 else None for t, span in enumerate(enc["offset_mapping"][i])]
        out.append({"question": enc["overflow_to_sample_mapping"][i], "offsets": offsets,
                    "inputs": {k: enc[k][i] for k in ("input_ids", "token_type_ids", "attention_mask")}})
    return out


def label(window, question):
    """(start, end) tokens of the first answer, or (0, 0) ([CLS]) when it is not wholly inside."""
    start_char = question[4][0]
    end_char = start_char + len(question[3][0])
    inside = [t for t, span in enumerate(window["offsets"]) if span is not None]
    first, last = inside[0], inside[-1]
    if window["offsets"][first][0] > start_char or window["offsets"][last][1] < end_char:
        return 0, 0
    start = max(t for t in inside if window["offsets"][t][0] <= start_char)
    end = min(t for t in inside if window["offsets"][t][1] >= end_char)
    return start, end


class Features(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def best_answers(questions, features, starts, ends, n_best, max_answer_len):
    """The best span of each question over all its windows (run_qa's v1.1 post-processing)."""
    candidates = collections.defaultdict(list)
    for window, start_logits, end_logits in zip(features, starts, ends):
        n = len(window["offsets"])
        start_logits, end_logits = start_logits[:n], end_logits[:n]
        top_starts = np.argsort(start_logits)[::-1][:n_best]
        top_ends = np.argsort(end_logits)[::-1][:n_best]
        offsets = window["offsets"]
        for s in top_starts:
            for e in top_ends:
                if offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > max_answer_len:
                    continue
                candidates[window["question"]].append(
                    (float(start_logits[s] + end_logits[e]), offsets[s][0], offsets[e][1]))
    answers = {}
    for q, question in enumerate(questions):
        if candidates[q]:
            _, a, b = max(candidates[q])
            answers[question[0]] = question[2][a:b]
        else:
            answers[question[0]] = ""
    return answers


PUNCTUATION = set(string.punctuation)


def normalize(text):
    """The official SQuAD v1.1 answer normalisation."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction, gold):
    p, g = normalize(prediction).split(), normalize(gold).split()
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_scores(questions, answers):
    em = f1 = 0.0
    for q in questions:
        prediction = answers.get(q[0], "")
        em += max(float(normalize(prediction) == normalize(g)) for g in q[3])
        f1 += max(token_f1(prediction, g) for g in q[3])
    return {"exact_match": 100 * em / len(questions), "f1": 100 * f1 / len(questions)}


def device_name(device):
    """What trained the model: "cpu", or the GPU's name for --device cuda."""
    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


# How a recipe (`--recipe benchmarks/recipes/squad-v1.1-4k.toml`) reaches this script: the
# settings it takes as options, and those it always uses (run_qa's / Trainer's defaults).
RECIPE_FLAGS = {"doc_stride": "--doc-stride", "n_best_size": "--n-best-size",
                "max_answer_length": "--max-answer-length", "learning_rate": "--lr",
                "num_train_epochs": "--epochs", "per_device_train_batch_size": "--batch-size",
                "warmup_ratio": "--warmup-ratio", "weight_decay": "--weight-decay",
                "max_seq_length": "--max-seq-length", "max_train_samples": "--max-train-samples"}
RECIPE_FIXED = {"lr_scheduler_type": "linear", "adam_beta1": 0.9, "adam_beta2": 0.999,
                "adam_epsilon": 1e-8, "max_grad_norm": 1.0, "eval_strategy": "no",
                "group_by_length": False, "load_best_model_at_end": False}


def main():
    p = argparse.ArgumentParser()
    for name, kind, default in [("model", str, None), ("train", str, None), ("validation", str, None),
                                ("max-train-samples", int, None), ("max-eval-samples", int, None),
                                ("epochs", float, 2.0), ("batch-size", int, 12), ("eval-batch-size", int, 64),
                                ("lr", float, 3e-5), ("warmup-ratio", float, 0.0), ("weight-decay", float, 0.0),
                                ("seed", int, 42), ("max-seq-length", int, 384), ("doc-stride", int, 128),
                                ("n-best-size", int, 20), ("max-answer-length", int, 30),
                                ("device", str, "cpu"), ("output-dir", str, "/tmp/hf-squad")]:
        p.add_argument(f"--{name}", type=kind, default=default)
    # --eval-only: no training; evaluate --model as it is (e.g. a `qa train` export), so that
    # this script's post-processing and scorer can be compared with `qa eval` on one model.
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("--data", help="a directory with train-v1.1-rebuilt.json.gz and dev-v1.1.json.gz")
    a = p.parse_args(recipe.from_argv(sys.argv[1:], RECIPE_FLAGS, RECIPE_FIXED,
                                      {"model": "--model", "data": "--data"}))
    if a.data:
        a.train = a.train or os.path.join(a.data, "train-v1.1-rebuilt.json.gz")
        a.validation = a.validation or os.path.join(a.data, "dev-v1.1.json.gz")
    os.makedirs(a.output_dir, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    train_questions = [] if a.eval_only else read_squad(a.train)[:a.max_train_samples]
    dev_questions = read_squad(a.validation)[:a.max_eval_samples]
    train_windows = windows(train_questions, tokenizer, a.max_seq_length, a.doc_stride) if train_questions else []
    train_items = []
    for w in train_windows:
        start, end = label(w, train_questions[w["question"]])
        train_items.append({**w["inputs"], "start_positions": start, "end_positions": end})
    dev_windows = windows(dev_questions, tokenizer, a.max_seq_length, a.doc_stride)

    # Seeded before the model exists, as transformers' example scripts do: the head's initial
    # weights then come from --seed (Trainer seeds only later, for its own sampling).
    set_seed(a.seed)
    model = AutoModelForQuestionAnswering.from_pretrained(a.model)
    args = TrainingArguments(
        output_dir=a.output_dir, learning_rate=a.lr, num_train_epochs=a.epochs,
        per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=a.eval_batch_size,
        # transformers 5: a float warmup_steps < 1 is a ratio, rounded up like ours.
        warmup_steps=a.warmup_ratio, weight_decay=a.weight_decay, seed=a.seed,
        eval_strategy="no", save_strategy="no", logging_steps=50, report_to=[],
        dataloader_num_workers=0, use_cpu=(a.device == "cpu"))
    trainer = Trainer(model=model, args=args, train_dataset=Features(train_items),
                      data_collator=DataCollatorWithPadding(tokenizer))
    start = time.time()
    train_metrics = {} if a.eval_only else trainer.train().metrics
    train_wall = time.time() - start

    start = time.time()
    starts, ends = trainer.predict(Features([w["inputs"] for w in dev_windows])).predictions
    eval_wall = time.time() - start
    answers = best_answers(dev_questions, dev_windows, starts, ends, a.n_best_size, a.max_answer_length)
    path = os.path.join(a.output_dir, "predictions.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(answers, f, ensure_ascii=False)
    scores = squad_scores(dev_questions, answers)
    # The same predictions scored by finetune's scorer (needs `cargo build --release --workspace`).
    # Where the binary is not built (a GPU machine without the Rust build) the cross-check is
    # left for later: `qa score` reads the predictions.json written above.
    binary = os.path.join(os.environ.get("FINETUNE_BIN_DIR", "target/release"), "qa")
    if os.path.exists(binary):
        ours = subprocess.run([binary, "score", "--gold", a.validation, "--predictions", path],
                              capture_output=True, text=True)
        ours = json.loads(ours.stdout) if ours.returncode == 0 else {"error": ours.stderr.strip()}
    else:
        ours = {"error": f"{binary} not built"}
    result = {"exact_match": round(scores["exact_match"], 4), "f1": round(scores["f1"], 4),
              "qa_score": ours, "train_questions": len(train_questions), "train_windows": len(train_items),
              "dev_questions": len(dev_questions), "dev_windows": len(dev_windows),
              "eval_only": a.eval_only, "optimizer_steps": 0 if a.eval_only else trainer.state.global_step,
              "train_runtime_s": train_metrics.get("train_runtime"),
              "train_samples_per_second": train_metrics.get("train_samples_per_second"), "train_wall_s": train_wall,
              "eval_wall_s": eval_wall, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
              "torch_threads": torch.get_num_threads(), "device": device_name(a.device), "transformers_args": {
                  "epochs": a.epochs, "batch_size": a.batch_size, "lr": a.lr, "warmup_ratio": a.warmup_ratio,
                  "weight_decay": a.weight_decay, "seed": a.seed, "max_seq_length": a.max_seq_length,
                  "doc_stride": a.doc_stride, "max_train_samples": a.max_train_samples}}
    json.dump(result, open(os.path.join(a.output_dir, "results.json"), "w"), indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
