"""The per-step table of the step-for-step checks (scripts/checks/check-*-training-parity.py):
finetune's logged steps beside Trainer's, printed, with the largest differences."""


def step_table(finetune_steps, trainer_log):
    """finetune_steps: {step: metrics.jsonl record}; trainer_log: Trainer's state.log_history.
    Prints one line a step and returns (rows, max |loss diff|, max |grad norm diff|)."""
    hf_steps = {h["step"]: h for h in trainer_log if "loss" in h}
    rows = []
    for step in sorted(hf_steps):
        f, h = finetune_steps[step], hf_steps[step]
        rows.append({"step": step, "finetune_loss": f["loss"], "transformers_loss": h["loss"],
                     "finetune_grad_norm": f["grad_norm"], "transformers_grad_norm": float(h["grad_norm"])})
        print(f"step {step:3d}  loss {f['loss']:.6f} / {h['loss']:.6f}  "
              f"grad norm {f['grad_norm']:.6f} / {float(h['grad_norm']):.6f}")
    loss_diff = max(abs(r["finetune_loss"] - r["transformers_loss"]) for r in rows)
    norm_diff = max(abs(r["finetune_grad_norm"] - r["transformers_grad_norm"]) for r in rows)
    return rows, loss_diff, norm_diff
