#!/usr/bin/env python3
"""Puts `relation train` and transformers' Trainer side by side step for step on SemEval-2010
Task 8, with the randomness removed, to tell a difference in the training arithmetic (marking,
head, the marker rows of the embedding matrix, optimizer) from seed noise.

Both sides start from the same weights (`relation train`'s export after one step at learning
rate 1e-30, which leaves every weight as the seed initialised it, the new classifier
included), train with dropout off (encoder and head), and see the same examples every step:
the first SENTENCES training sentences, marked as scripts/baselines/baseline-transformers-relation.py
marks them, all in one batch, so the sampling order cannot matter. The model on the
transformers side is that script's RelationModel with the export's weights loaded. The script
prints the per-step loss and gradient norm of both sides, the largest differences, and how far
apart the final weights are (all of them, and the four marker rows of the word-embedding
matrix on their own), and exits non-zero if a loss differs by more than --tolerance.

Run (from the repository root, after `cargo build --release --workspace`):
  .venv/bin/python scripts/checks/check-relation-training-parity.py --model data/models/all-MiniLM-L6-v2 \
      --train ../shared/data/semeval2010_task8/TRAIN_FILE.TXT

The regression fixtures of crates/relation/tests/training_parity.rs (the tiny fixture encoder
on our sample sentences, one per head it pins):
  .venv/bin/python scripts/checks/check-relation-training-parity.py --model tests/fixtures/encoder/tiny-bert \
      --train data/relation/train.txt --markers '[unused0],[unused1],$,#' --max-seq-length 48 \
      --sentences 16 --steps 8 --lr 2e-3 --max-grad-norm 0.5 --seed 7 --head HEAD \
      --fixture tests/fixtures/relation/training-parity-HEAD
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import Trainer, TrainingArguments

from trainer_parity import step_table

HERE = os.path.dirname(os.path.abspath(__file__))


def baseline_module():
    """scripts/baselines/baseline-transformers-relation.py, for its reader, marking and model."""
    path = os.path.join(HERE, "..", "baselines", "baseline-transformers-relation.py")
    sys.path.insert(0, os.path.dirname(path))  # it imports its siblings (recipe.py, splits.py)
    spec = importlib.util.spec_from_file_location("baseline_relation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_args(a, max_steps, lr):
    """`relation train`'s arguments, less --output-dir (the fixture keeps them for the Rust test)."""
    return ["--model", a.model, "--train", a.train, "--validation", a.train, "--head", a.head,
            "--markers", a.markers, "--max-train-samples", str(a.sentences),
            "--max-eval-samples", str(a.sentences), "--per-device-train-batch-size", str(a.sentences),
            "--max-seq-length", str(a.max_seq_length), "--max-steps", str(max_steps),
            "--learning-rate", str(lr), "--warmup-steps", str(a.warmup_steps),
            "--weight-decay", str(a.weight_decay), "--max-grad-norm", str(a.max_grad_norm),
            "--seed", str(a.seed), "--eval-strategy", "no", "--save-strategy", "no", "--logging-steps", "1",
            "--hidden-dropout-prob", "0", "--attention-probs-dropout-prob", "0", "--classifier-dropout", "0"]


def relation_train(a, out, max_steps, lr):
    subprocess.run(["target/release/relation", "train", *train_args(a, max_steps, lr), "--output-dir", out,
                    "--overwrite-output-dir"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def max_abs(a, b):
    return (a - b).abs().max().item()


def write_fixture(a, model, rows):
    import transformers
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, a.fixture + ".safetensors")
    fixture = {
        "about": "transformers Trainer with scripts/baselines/baseline-transformers-relation.py's RelationModel, "
                 "from `relation train`'s initial weights, dropout off, one full batch per step; "
                 "written by scripts/checks/check-relation-training-parity.py --fixture",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "relation_train_args": train_args(a, a.steps, a.lr),
        "steps": [{"step": r["step"], "loss": r["transformers_loss"], "grad_norm": r["transformers_grad_norm"]}
                  for r in rows],
    }
    with open(a.fixture + ".json", "w") as f:
        json.dump(fixture, f, indent=2)
        f.write("\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="data/models/all-MiniLM-L6-v2")
    p.add_argument("--train", default="../shared/data/semeval2010_task8/TRAIN_FILE.TXT")
    p.add_argument("--head", default="entity-start")
    p.add_argument("--markers", default="unused")
    p.add_argument("--sentences", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=42)
    # float32 on two implementations of the same sums: losses agree to ~1e-6 relative.
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--output", help="write the per-step table and weight differences as JSON here")
    p.add_argument("--fixture", help="write Trainer's steps and the `relation train` arguments to FIXTURE.json "
                                     "and its final weights to FIXTURE.safetensors (crates/relation/tests)")
    a = p.parse_args()

    base = baseline_module()
    examples = base.read_semeval(a.train)[: a.sentences]
    with tempfile.TemporaryDirectory() as tmp:
        init, ours = f"{tmp}/init", f"{tmp}/ours"
        relation_train(a, init, 1, 1e-30)
        relation_train(a, ours, a.steps, a.lr)
        finetune_steps = [json.loads(line) for line in open(f"{ours}/metrics.jsonl")]
        finetune_steps = {r["step"]: r for r in finetune_steps if "loss" in r}
        config = json.load(open(f"{init}/config.json"))
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        markers = config["finetune_relation"]["markers"]
        start_weights = load_file(f"{init}/model.safetensors")
        final_weights = load_file(f"{ours}/model.safetensors")

    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    marker_ids = [tok.token_to_id(t) for t in markers]
    model = base.RelationModel(a.model, a.head, len(labels), 0.0)
    missing, unexpected = model.load_state_dict(start_weights, strict=False)
    # The only weights the export may lack are position_ids buffers some versions keep.
    assert not unexpected and all("position_ids" in k for k in missing), (missing, unexpected)
    model.bert.config.hidden_dropout_prob = 0.0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    data = base.Marked(examples, tok, marker_ids, labels, a.max_seq_length)
    args = TrainingArguments(
        output_dir=f"{tempfile.gettempdir()}/relation-parity-hf", max_steps=a.steps,
        per_device_train_batch_size=len(examples), learning_rate=a.lr, warmup_steps=a.warmup_steps,
        weight_decay=a.weight_decay, max_grad_norm=a.max_grad_norm, seed=a.seed, logging_steps=1, report_to=[], save_strategy="no",
        eval_strategy="no", remove_unused_columns=False, use_cpu=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=base.collate)
    trainer.train()
    rows, loss_diff, norm_diff = step_table(finetune_steps, trainer.state.log_history)

    theirs = {k: v.detach() for k, v in model.state_dict().items() if k in final_weights}
    weight_diff = max(max_abs(final_weights[k], v) for k, v in theirs.items())
    embedding = "bert.embeddings.word_embeddings.weight"
    rows_ids = sorted(set(marker_ids))
    marker_moved = max_abs(final_weights[embedding][rows_ids], start_weights[embedding][rows_ids])
    marker_diff = max_abs(final_weights[embedding][rows_ids], theirs[embedding][rows_ids])
    print(f"{len(examples)} sentences, {len(rows)} steps: max |loss diff| {loss_diff:.2e}, "
          f"max |grad norm diff| {norm_diff:.2e}")
    print(f"final weights: max |diff| {weight_diff:.2e} over {len(theirs)} tensors; marker rows "
          f"{rows_ids} moved up to {marker_moved:.2e} from the start, the two sides differ by {marker_diff:.2e}")
    if a.output:
        json.dump({"settings": vars(a), "marker_ids": marker_ids, "max_loss_diff": loss_diff,
                   "max_grad_norm_diff": norm_diff, "max_final_weight_diff": weight_diff,
                   "marker_rows_moved": marker_moved, "marker_rows_diff": marker_diff, "steps": rows},
                  open(a.output, "w"), indent=2)
    if a.fixture:
        write_fixture(a, model, rows)
    if loss_diff > a.tolerance:
        sys.exit(f"losses differ by {loss_diff:.2e} > {a.tolerance}")


if __name__ == "__main__":
    main()
