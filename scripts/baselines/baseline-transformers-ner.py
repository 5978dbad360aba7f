#!/usr/bin/env python3
"""The transformers side of the CoNLL-2003 benchmark: run_ner-style fine-tuning with Trainer.

Same recipe as `ner train`: the IOB1 files converted to IOB2, AutoModelForTokenClassification
on the model directory, words tokenized with is_split_into_words, the first sub-token of each
word labelled (the others -100), truncation at max_seq_length (run_ner's behaviour; finetune
uses windows instead, which only matters for the few sentences longer than the limit),
DataCollatorForTokenClassification, AdamW with a linear schedule and warmup ratio, weight
decay, evaluation on eng.testa each epoch with seqeval, the best epoch kept (in memory) and
scored on eng.testb. Writes the test predictions in conlleval format and prints one JSON line
with seqeval's F1 (default mode) next to `ner score`'s on the same file.

Run (from the repository root, after `cargo build --release --workspace`):
  .venv/bin/python scripts/baselines/baseline-transformers-ner.py --model data/models/all-MiniLM-L6-v2 \
      --data ../shared/data/conll2003 --epochs 3 --batch-size 16 --lr 5e-5 --warmup-ratio 0.1 \
      --weight-decay 0.01 --seed 42 --output-dir /tmp/hf-conll
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import recipe
import torch
from selection import KeepBest
from seqeval.metrics import f1_score
from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                          Trainer, TrainingArguments, set_seed)


def read_conll(path):
    sentences, words, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            continue
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        sentences.append((words, tags))
    return sentences


def iob1_to_iob2(tags):
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


class Encoded(torch.utils.data.Dataset):
    def __init__(self, sentences, tokenizer, labels, max_len):
        self.items = []
        for words, tags in sentences:
            enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_len)
            previous, ids = None, []
            for word in enc.word_ids():
                ids.append(-100 if word is None or word == previous else labels.index(tags[word]))
                previous = word
            self.items.append({**enc, "labels": ids})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def device_name(device):
    """What trained the model: "cpu", or the GPU's name for --device cuda."""
    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


# How a recipe (`--recipe benchmarks/recipes/conll2003.toml`) reaches this script: the settings
# it takes as options, and those it always uses (Trainer's defaults here).
RECIPE_FLAGS = {"learning_rate": "--lr", "num_train_epochs": "--epochs",
                "per_device_train_batch_size": "--batch-size", "warmup_ratio": "--warmup-ratio",
                "weight_decay": "--weight-decay", "max_seq_length": "--max-seq-length"}
RECIPE_FIXED = {"lr_scheduler_type": "linear", "adam_beta1": 0.9, "adam_beta2": 0.999,
                "adam_epsilon": 1e-8, "max_grad_norm": 1.0, "eval_strategy": "epoch",
                "group_by_length": False, "load_best_model_at_end": True}


def main():
    p = argparse.ArgumentParser()
    for name, kind, default in [("model", str, None), ("data", str, None), ("epochs", float, 3.0),
                                ("batch-size", int, 16), ("lr", float, 5e-5), ("warmup-ratio", float, 0.1),
                                ("weight-decay", float, 0.01), ("seed", int, 42), ("max-seq-length", int, 128),
                                ("device", str, "cpu"), ("output-dir", str, "/tmp/hf-conll")]:
        p.add_argument(f"--{name}", type=kind, default=default)
    a = p.parse_args(recipe.from_argv(sys.argv[1:], RECIPE_FLAGS, RECIPE_FIXED,
                                      {"model": "--model", "data": "--data"}))
    os.makedirs(a.output_dir, exist_ok=True)
    raw = {split: read_conll(os.path.join(a.data, f"eng.{split}")) for split in ("train", "testa", "testb")}
    data = {split: [(w, iob1_to_iob2(t)) for w, t in s] for split, s in raw.items()}
    kinds = sorted({t[2:] for _, tags in data["train"] for t in tags if t != "O"})
    labels = ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    # Seeded before the model exists, as transformers' example scripts do: the head's initial
    # weights then come from --seed (Trainer seeds only later, for its own sampling).
    set_seed(a.seed)
    model = AutoModelForTokenClassification.from_pretrained(
        a.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    sets = {split: Encoded(s, tokenizer, labels, a.max_seq_length) for split, s in data.items()}

    def to_tags(predictions, dataset):
        """Predicted and gold tag sequences over the labelled (first) sub-tokens."""
        pred, gold = [], []
        for item, row in zip(dataset.items, predictions):
            keep = [i for i, l in enumerate(item["labels"]) if l != -100]
            pred.append([labels[row[i]] for i in keep])
            gold.append([labels[item["labels"][i]] for i in keep])
        return pred, gold

    def metrics(output):
        pred, gold = to_tags(output.predictions.argmax(-1), sets["testa"])
        return {"f1": f1_score(gold, pred)}

    args = TrainingArguments(
        output_dir=a.output_dir, learning_rate=a.lr, num_train_epochs=a.epochs,
        per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=64,
        warmup_steps=a.warmup_ratio, weight_decay=a.weight_decay, seed=a.seed,
        eval_strategy="epoch", save_strategy="no", logging_steps=50, report_to=[],
        dataloader_num_workers=0, use_cpu=(a.device == "cpu"))
    keep = KeepBest("f1")
    trainer = Trainer(model=model, args=args, train_dataset=sets["train"], eval_dataset=sets["testa"],
                      data_collator=DataCollatorForTokenClassification(tokenizer), compute_metrics=metrics,
                      callbacks=[keep])
    start = time.time()
    out = trainer.train()
    wall = time.time() - start
    trainer.remove_callback(keep)  # the test predictions below are not selection candidates
    binary = os.path.join(os.environ.get("FINETUNE_BIN_DIR", "target/release"), "ner")

    def score_testb(name):
        """Writes the model's eng.testb predictions (conlleval format) and scores them."""
        predictions = trainer.predict(sets["testb"]).predictions.argmax(-1)
        pred, _ = to_tags(predictions, sets["testb"])
        # The gold tags as shipped (IOB1) and the predictions (IOB2); words beyond the
        # truncation limit get O, as run_ner's output has no prediction for them.
        path = os.path.join(a.output_dir, name)
        with open(path, "w") as f:
            for (words, gold_tags), tags in zip(raw["testb"], pred):
                tags = tags + ["O"] * (len(words) - len(tags))
                for word, g, t in zip(words, gold_tags, tags):
                    f.write(f"{word} {g} {t}\n")
                f.write("\n")
        gold_iob2 = [t for _, t in data["testb"]]
        full_pred = [tags + ["O"] * (len(w) - len(tags)) for (w, _), tags in zip(data["testb"], pred)]
        ours = json.loads(subprocess.run([binary, "score", "--predictions", path],
                                         check=True, capture_output=True, text=True).stdout)
        return pred, f1_score(gold_iob2, full_pred), ours

    # The final model first (Trainer's own result without load_best_model_at_end), then the
    # epoch with the best eng.testa F1 (the run's result, as finetune's export).
    _, final_seqeval, final_ours = score_testb("test_predictions_final.conll")
    model.load_state_dict(keep.state)
    pred, seqeval_f1, ours = score_testb("test_predictions.conll")
    result = {"test_f1_seqeval": round(100 * seqeval_f1, 4), "test_f1_ner_score": round(100 * ours["f1"], 4),
              "test_f1_selected": round(100 * ours["f1"], 2), "test_f1_final": round(100 * final_ours["f1"], 2),
              "test_f1_final_seqeval": round(100 * final_seqeval, 4),
              "testa_f1_per_epoch": [round(100 * v, 2) for _, v in keep.curve],
              "testa_best_f1": round(100 * keep.best, 2),
              "test_f1_per_type": {t["type"]: round(100 * t["f1"], 2) for t in ours["per_type"]},
              "train_runtime_s": out.metrics["train_runtime"],
              "train_samples_per_second": out.metrics["train_samples_per_second"], "wall_s": wall,
              "torch_threads": torch.get_num_threads(), "device": device_name(a.device),
              "truncated_test_sentences":
                  sum(1 for (w, _), t in zip(data["testb"], pred) if len(t) < len(w)),
              # ru_maxrss is in KiB on Linux.
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
              "epochs": a.epochs, "learning_rate": a.lr, "batch_size": a.batch_size,
              "warmup_ratio": a.warmup_ratio, "weight_decay": a.weight_decay, "seed": a.seed,
              "max_seq_length": a.max_seq_length, "command": " ".join(["python"] + sys.argv)}
    json.dump(result, open(os.path.join(a.output_dir, "results.json"), "w"), indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
