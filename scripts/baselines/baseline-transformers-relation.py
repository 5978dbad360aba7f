#!/usr/bin/env python3
"""The transformers side of the SemEval-2010 Task 8 benchmark: the same marking, head and
hyperparameters as `relation train`, fine-tuned with transformers' Trainer.

- Data: TRAIN_FILE.TXT with the same seeded 10% held out for model selection (the same
  SplitMix64 shuffle as `relation train --holdout`), TEST_FILE_FULL.TXT for the test score.
- Marking: the sentence without tags is tokenized (tokenizers, from the model's
  tokenizer.json) and the ids of [unused0] e1 [unused1] ... [unused2] e2 [unused3] are
  inserted around the tokens that overlap each entity's characters, exactly as finetune does;
  `--markers punct` uses $ e1 $ ... # e2 #, or name four tokens (as `relation train --markers`).
- Heads: `entity-start` (the two start markers' states concatenated, dropout, linear),
  `cls` (AutoModelForSequenceClassification), `rbert` (R-BERT), as crates/relation/src/head.rs.
- Training: Trainer's AdamW, linear schedule with warmup ratio, weight decay (not on biases
  and LayerNorm), dynamic padding, evaluation each epoch on the held-out part; the epoch with
  the best held-out official macro-F1 is kept (in memory).
- The test predictions are scored with `relation score` (the same official definition), for
  both the epoch with the best held-out score and the final model (Trainer's own result
  without load_best_model_at_end); `--select best|last` says which is the run's result
  (test_predictions.txt, `official_macro_f1`); results.json has both.

Run (from the repository root, after `cargo build --release --workspace`):
  .venv/bin/python scripts/baselines/baseline-transformers-relation.py --model data/models/all-MiniLM-L6-v2 \
      --data ../shared/data/semeval2010_task8 --head entity-start --epochs 5 --batch-size 16 \
      --lr 5e-5 --warmup-ratio 0.1 --weight-decay 0.01 --seed 42 --output-dir /tmp/hf-semeval
"""

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import time

import recipe
from splits import hold_out
import torch
from tokenizers import Tokenizer
from transformers import AutoModel, Trainer, TrainerCallback, TrainingArguments

TAG = re.compile(r"</?e[12]>")


def read_semeval(path):
    """[(id, plain text, e1 span, e2 span, label)] from the release format."""
    lines = open(path, encoding="utf-8").read().splitlines()
    out = []
    for i, line in enumerate(lines):
        if "\t" not in line or not line.split("\t", 1)[1].startswith('"'):
            continue
        sid, quoted = line.split("\t", 1)
        sentence = quoted.strip()[1:-1]
        plain, pos, at = [], {}, 0
        for piece in re.split(r"(</?e[12]>)", sentence):
            if TAG.fullmatch(piece):
                pos[piece] = at
            else:
                plain.append(piece)
                at += len(piece)
        label = lines[i + 1].strip()
        out.append((sid, "".join(plain), (pos["<e1>"], pos["</e1>"]), (pos["<e2>"], pos["</e2>"]), label))
    return out


def mark(example, tok, marker_ids, max_len):
    """input_ids and the four marker positions, as crates/relation/src/task.rs `mark`."""
    _, text, e1, e2, _ = example
    enc = tok.encode(text)
    content = [i for i, s in enumerate(enc.sequence_ids) if s is not None]
    cls, sep = enc.ids[0], enc.ids[-1]

    def tokens_of(span):
        inside = [k for k, t in enumerate(content) if enc.offsets[t][0] < span[1] and enc.offsets[t][1] > span[0]]
        return inside[0], inside[-1]

    t1, t2 = tokens_of(e1), tokens_of(e2)
    budget = max_len - 6
    first, last = min(t1[0], t2[0]), max(t1[1], t2[1])
    lo, hi = 0, len(content)
    if len(content) > budget:
        spare = budget - (last - first + 1)
        lo = max(first - spare // 2, 0)
        hi = min(lo + budget, len(content))
        lo = hi - budget
    ids, pos = [cls], [0, 0, 0, 0]
    for k in range(lo, hi):
        if k == t1[0]:
            ids.append(marker_ids[0]); pos[0] = len(ids) - 1
        if k == t2[0]:
            ids.append(marker_ids[2]); pos[2] = len(ids) - 1
        ids.append(enc.ids[content[k]])
        if k == t1[1]:
            ids.append(marker_ids[1]); pos[1] = len(ids) - 1
        if k == t2[1]:
            ids.append(marker_ids[3]); pos[3] = len(ids) - 1
    ids.append(sep)
    return ids, pos


class Marked(torch.utils.data.Dataset):
    def __init__(self, examples, tok, marker_ids, labels, max_len):
        self.items = []
        for e in examples:
            ids, pos = mark(e, tok, marker_ids, max_len)
            self.items.append({"input_ids": ids, "markers": pos, "labels": labels.index(e[4])})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def collate(items):
    width = max(len(x["input_ids"]) for x in items)
    ids = torch.zeros(len(items), width, dtype=torch.long)
    mask = torch.zeros(len(items), width, dtype=torch.long)
    for row, x in enumerate(items):
        ids[row, : len(x["input_ids"])] = torch.tensor(x["input_ids"])
        mask[row, : len(x["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": mask,
            "markers": torch.tensor([x["markers"] for x in items]),
            "labels": torch.tensor([x["labels"] for x in items])}


class RelationModel(torch.nn.Module):
    def __init__(self, path, head, num_labels, dropout):
        super().__init__()
        self.bert = AutoModel.from_pretrained(path, add_pooling_layer=(head == "cls"))
        hidden, std = self.bert.config.hidden_size, self.bert.config.initializer_range
        self.head = head
        self.dropout = torch.nn.Dropout(dropout)
        width = {"cls": 1, "entity-start": 2, "rbert": 3}[head] * hidden
        self.classifier = torch.nn.Linear(width, num_labels)
        layers = [self.classifier]
        if head == "rbert":
            self.cls_fc = torch.nn.Linear(hidden, hidden)
            self.entity_fc = torch.nn.Linear(hidden, hidden)
            layers += [self.cls_fc, self.entity_fc]
        for layer in layers:  # transformers' head init: normal(0, initializer_range), zero bias
            torch.nn.init.normal_(layer.weight, std=std)
            torch.nn.init.zeros_(layer.bias)

    def forward(self, input_ids, attention_mask, markers, labels=None):
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask)
        h = out.last_hidden_state
        rows = torch.arange(h.shape[0])
        if self.head == "cls":
            x = out.pooler_output
        elif self.head == "entity-start":
            x = torch.cat([h[rows, markers[:, 0]], h[rows, markers[:, 2]]], dim=1)
        else:
            positions = torch.arange(h.shape[1]).unsqueeze(0)

            def average(a, b):
                w = ((positions >= markers[:, a : a + 1]) & (positions <= markers[:, b : b + 1])).float()
                return (h * (w / w.sum(1, keepdim=True)).unsqueeze(-1)).sum(1)

            dense = lambda fc, v: fc(torch.tanh(self.dropout(v)))
            x = torch.cat([dense(self.cls_fc, h[:, 0]), dense(self.entity_fc, average(0, 1)),
                           dense(self.entity_fc, average(2, 3))], dim=1)
        logits = self.classifier(self.dropout(x))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def official_macro_f1(gold, predicted):
    """Directed (9+1)-way macro-F1 without Other (the scorer's definition), for selection."""
    base = lambda l: l.split("(")[0]
    scores = []
    for rel in sorted({base(g) for g in gold} - {"Other"}):
        correct = sum(1 for g, p in zip(gold, predicted) if g == p and base(g) == rel)
        proposed = sum(1 for p in predicted if base(p) == rel)
        actual = sum(1 for g in gold if base(g) == rel)
        pr = correct / proposed if proposed else 0.0
        rc = correct / actual if actual else 0.0
        scores.append(2 * pr * rc / (pr + rc) if pr + rc else 0.0)
    return sum(scores) / len(scores)


class KeepBest(TrainerCallback):
    def __init__(self):
        self.best, self.state, self.epoch = -1.0, None, None
        self.curve = []  # every held-out macro-F1, one per epoch

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        self.curve.append(round(100 * metrics["eval_macro_f1"], 2))
        if metrics["eval_macro_f1"] > self.best:
            self.best = metrics["eval_macro_f1"]
            self.state = copy.deepcopy(model.state_dict())
            self.epoch = round(state.epoch)


def marker_tokens(choice):
    """The four marker tokens (e1 start, e1 end, e2 start, e2 end), as `relation train --markers`."""
    named = {"unused": ("[unused0]", "[unused1]", "[unused2]", "[unused3]"), "punct": ("$", "$", "#", "#")}
    if choice in named:
        return named[choice]
    tokens = [t.strip() for t in choice.split(",")]
    if len(tokens) != 4 or not all(tokens):
        sys.exit(f"unknown --markers `{choice}` (unused, punct, or four tokens E1,/E1,E2,/E2)")
    return tokens


def device_name(device):
    """What trained the model: "cpu", or the GPU's name for --device cuda."""
    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def score_test(trainer, test_data, test, labels, gold, output_dir, name):
    """Predicts the test set with the model as it is now, writes test_predictions_NAME.txt and
    scores it (official macro-F1, in %)."""
    logits = trainer.predict(test_data).predictions
    key = os.path.join(output_dir, f"test_predictions_{name}.txt")
    predicted = [labels[row] for row in logits.argmax(-1)]
    with open(key, "w") as f:
        for e, label in zip(test, predicted):
            f.write(f"{e[0]}\t{label}\n")
    python_f1 = official_macro_f1([e[4] for e in test], predicted)
    # `relation score` is the reference scorer; where the binary is not built (a GPU machine
    # without the Rust build), the same definition implemented above scores the key and the
    # written predictions can be rescored later with `relation score`.
    binary = os.path.join(os.environ.get("FINETUNE_BIN_DIR", "target/release"), "relation")
    score = None
    if os.path.exists(binary):
        score = json.loads(subprocess.run([binary, "score", "--gold", gold, "--predictions", key],
                                          check=True, capture_output=True, text=True).stdout)
        assert abs(score["official_macro_f1"] - python_f1) < 1e-9, (score["official_macro_f1"], python_f1)
    return {"official_macro_f1": round(100 * python_f1, 2),
            "micro_f1": round(100 * score["directed"]["micro_f1"], 2) if score else None,
            "scorer": "relation score" if score else "python (relation binary not built)"}


# How a benchmark recipe (`--recipe benchmarks/recipes/semeval2010.toml`) reaches this script:
# the settings it takes as options, and those it always uses (Trainer's defaults here).
RECIPE_FLAGS = {"head": "--head", "markers": "--markers", "holdout": "--holdout",
                "learning_rate": "--lr", "num_train_epochs": "--epochs",
                "per_device_train_batch_size": "--batch-size", "warmup_ratio": "--warmup-ratio",
                "weight_decay": "--weight-decay", "max_seq_length": "--max-seq-length",
                "classifier_dropout": "--dropout"}
RECIPE_FIXED = {"lr_scheduler_type": "linear", "adam_beta1": 0.9, "adam_beta2": 0.999,
                "adam_epsilon": 1e-8, "max_grad_norm": 1.0, "eval_strategy": "epoch",
                "group_by_length": False,
                # Both models are scored; the selected one (best held-out epoch) is the result.
                "load_best_model_at_end": True}


def main():
    p = argparse.ArgumentParser()
    for name, kind, default in [("model", str, None), ("data", str, None), ("head", str, "entity-start"),
                                ("epochs", float, 5.0), ("batch-size", int, 16), ("lr", float, 5e-5),
                                ("warmup-ratio", float, 0.1), ("weight-decay", float, 0.01), ("dropout", float, 0.1),
                                ("holdout", float, 0.1), ("seed", int, 42), ("max-seq-length", int, 128),
                                ("markers", str, "unused"), ("device", str, "cpu"), ("select", str, "best"),
                                ("output-dir", str, "/tmp/hf-semeval")]:
        p.add_argument(f"--{name}", type=kind, default=default)
    a = p.parse_args(recipe.from_argv(sys.argv[1:], RECIPE_FLAGS, RECIPE_FIXED,
                                      {"model": "--model", "data": "--data"}))
    if a.select not in ("best", "last"):
        sys.exit(f"unknown --select `{a.select}` (best: the epoch with the best held-out score; last: the final model)")
    os.makedirs(a.output_dir, exist_ok=True)
    train_all = read_semeval(os.path.join(a.data, "TRAIN_FILE.TXT"))
    test = read_semeval(os.path.join(a.data, "TEST_FILE_FULL.TXT"))
    train, held = hold_out(train_all, a.holdout, a.seed)
    labels = ["Other"] + [f"{r}({d})" for r in sorted({e[4].split("(")[0] for e in train_all} - {"Other"})
                          for d in ("e1,e2", "e2,e1")]
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    marker_ids = [tok.token_to_id(t) for t in marker_tokens(a.markers)]
    if None in marker_ids:
        sys.exit(f"--markers {a.markers}: a marker token is not in the vocabulary of {a.model}")
    torch.manual_seed(a.seed)
    model = RelationModel(a.model, a.head, len(labels), a.dropout)
    args = TrainingArguments(
        output_dir=a.output_dir, learning_rate=a.lr, num_train_epochs=a.epochs,
        per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=64,
        warmup_steps=a.warmup_ratio, weight_decay=a.weight_decay, seed=a.seed,
        eval_strategy="epoch", save_strategy="no", logging_steps=50, report_to=[],
        remove_unused_columns=False, dataloader_num_workers=0, use_cpu=(a.device == "cpu"))

    def metrics(pred):
        predicted = [labels[i] for i in pred.predictions.argmax(-1)]
        gold = [labels[i] for i in pred.label_ids]
        return {"macro_f1": official_macro_f1(gold, predicted)}

    keep = KeepBest()
    trainer = Trainer(model=model, args=args, data_collator=collate, compute_metrics=metrics,
                      train_dataset=Marked(train, tok, marker_ids, labels, a.max_seq_length),
                      eval_dataset=Marked(held, tok, marker_ids, labels, a.max_seq_length),
                      callbacks=[keep])
    start = time.time()
    out = trainer.train()
    wall = time.time() - start
    gold = os.path.join(a.output_dir, "test_key.txt")
    with open(gold, "w") as f:
        for e in test:
            f.write(f"{e[0]}\t{e[4]}\n")
    test_data = Marked(test, tok, marker_ids, labels, a.max_seq_length)
    # The final model first (Trainer's own result without load_best_model_at_end), then the
    # epoch with the best held-out score; --select says which one is the run's result.
    scores = {"last": score_test(trainer, test_data, test, labels, gold, a.output_dir, "last")}
    model.load_state_dict(keep.state)
    scores["best"] = score_test(trainer, test_data, test, labels, gold, a.output_dir, "best")
    chosen = scores[a.select]
    os.replace(os.path.join(a.output_dir, f"test_predictions_{a.select}.txt"),
               os.path.join(a.output_dir, "test_predictions.txt"))
    result = {"official_macro_f1": chosen["official_macro_f1"], "micro_f1": chosen["micro_f1"],
              "select": a.select,
              "official_macro_f1_heldout_best_epoch": scores["best"]["official_macro_f1"],
              "official_macro_f1_last_epoch": scores["last"]["official_macro_f1"],
              "scorer": chosen["scorer"],
              "heldout_best_macro_f1": round(100 * keep.best, 2), "heldout_best_epoch": keep.epoch,
              "heldout_macro_f1_per_epoch": keep.curve,
              "head": a.head, "markers": a.markers,
              "train_runtime_s": out.metrics["train_runtime"],
              "train_samples_per_second": out.metrics["train_samples_per_second"], "wall_s": wall,
              "torch_threads": torch.get_num_threads(), "device": device_name(a.device), "train": len(train), "heldout": len(held),
              "test": len(test)}
    json.dump(result, open(os.path.join(a.output_dir, "results.json"), "w"), indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
