#!/usr/bin/env python3
"""Puts `qa train` and transformers' Trainer side by side step for step on SQuAD, with the
randomness removed, to tell a difference in the training arithmetic from seed noise.

Both sides start from the same weights (`qa train`'s export after one step at learning rate
1e-30, which leaves every weight as the seed initialised it, qa_outputs included), train with
dropout off, and see the same windows every step: the first QUESTIONS training questions are
featurized the way scripts/baselines/baseline-transformers-qa.py does (run_qa's windows), and one batch
holds all of them, so the sampling order cannot matter. The script prints the per-step loss
and gradient norm of both sides and the largest differences, and exits non-zero if a loss
differs by more than --tolerance.

Run (from the repository root, after `cargo build --release --workspace`):
  .venv/bin/python scripts/checks/check-qa-training-parity.py --model data/models/all-MiniLM-L6-v2 \
      --train ../shared/data/squad/train-v1.1-rebuilt.json.gz
On a GPU: --device cuda (both sides; TF32 off on PyTorch's, f32 on both) and --bin DIR for a
build with the `cuda` feature.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer, \
    TrainingArguments

from trainer_parity import step_table

HERE = os.path.dirname(os.path.abspath(__file__))


def baseline_module():
    """scripts/baselines/baseline-transformers-qa.py, for its run_qa-style windows and labels."""
    sys.path.insert(0, os.path.join(HERE, "..", "baselines"))  # it imports recipe.py beside it
    spec = importlib.util.spec_from_file_location("baseline_qa", os.path.join(HERE, "..", "baselines", "baseline-transformers-qa.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def qa_train(a, batch, out, max_steps, lr, logging_steps):
    subprocess.run(
        [os.path.join(a.bin, "qa"), "train", "--device", a.device, "--model", a.model, "--train", a.train, "--validation", a.train,
         "--output-dir", out, "--overwrite-output-dir", "--max-train-samples", str(a.questions),
         "--max-eval-samples", str(a.questions),
         "--per-device-train-batch-size", str(batch), "--max-steps", str(max_steps),
         "--learning-rate", str(lr), "--warmup-steps", str(a.warmup_steps), "--weight-decay", str(a.weight_decay),
         "--seed", str(a.seed), "--eval-strategy", "no", "--save-strategy", "no",
         "--logging-steps", str(logging_steps), "--hidden-dropout-prob", "0",
         "--attention-probs-dropout-prob", "0"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="data/models/all-MiniLM-L6-v2")
    p.add_argument("--train", default="../shared/data/squad/train-v1.1-rebuilt.json.gz")
    p.add_argument("--questions", type=int, default=12)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=42)
    # float32 on two implementations of the same sums: losses agree to ~1e-5 relative.
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--output", help="write the per-step table as JSON here")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="both sides (cuda: the first GPU, Trainer's)")
    p.add_argument("--bin", default="target/release", help="the folder holding `qa`")
    a = p.parse_args()
    on_gpu = a.device == "cuda"
    if on_gpu:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    base = baseline_module()
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    questions = base.read_squad(a.train)[: a.questions]
    windows = base.windows(questions, tokenizer, 384, 128)
    items = []
    for w in windows:
        start, end = base.label(w, questions[w["question"]])
        items.append({**w["inputs"], "start_positions": start, "end_positions": end})
    batch = len(items)  # one batch is the whole training set on both sides

    with tempfile.TemporaryDirectory() as tmp:
        init, ours = f"{tmp}/init", f"{tmp}/ours"
        qa_train(a, batch, init, 1, 1e-30, 1)
        qa_train(a, batch, ours, a.steps, a.lr, 1)
        finetune_steps = [json.loads(line) for line in open(f"{ours}/metrics.jsonl")]
        finetune_steps = {r["step"]: r for r in finetune_steps if "loss" in r}

        model = AutoModelForQuestionAnswering.from_pretrained(
            init, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        args = TrainingArguments(
            output_dir=f"{tmp}/hf", max_steps=a.steps, per_device_train_batch_size=batch,
            learning_rate=a.lr, warmup_steps=a.warmup_steps, weight_decay=a.weight_decay,
            seed=a.seed, logging_steps=1, report_to=[], save_strategy="no", eval_strategy="no",
            use_cpu=not on_gpu)
        trainer = Trainer(model=model, args=args, train_dataset=base.Features(items),
                          data_collator=DataCollatorWithPadding(tokenizer))
        trainer.train()
    rows, loss_diff, norm_diff = step_table(finetune_steps, trainer.state.log_history)
    print(f"device {a.device}: {len(items)} windows from {len(questions)} questions, {len(rows)} steps: "
          f"max |loss diff| {loss_diff:.2e}, max |grad norm diff| {norm_diff:.2e}")
    if a.output:
        json.dump({"settings": vars(a), "gpu": torch.cuda.get_device_name(0) if on_gpu else None,
                   "windows": len(items), "max_loss_diff": loss_diff,
                   "max_grad_norm_diff": norm_diff, "steps": rows}, open(a.output, "w"), indent=2)
    if loss_diff > a.tolerance:
        sys.exit(f"losses differ by {loss_diff:.2e} > {a.tolerance}")


if __name__ == "__main__":
    main()
