"""Model selection for the transformers-side scripts, as finetune's `load_best_model_at_end`:
every evaluation on the selection set is recorded, and the weights of the best one are kept
in memory, so a run can score both its selected and its final model on the reported set.
"""

import copy

from transformers import TrainerCallback


class KeepBest(TrainerCallback):
    """Keeps the state of the evaluation with the highest `eval_<metric>` (ties: the first,
    as finetune's selection)."""

    def __init__(self, metric):
        self.key = f"eval_{metric}"
        self.best, self.state, self.step, self.epoch = None, None, None, None
        self.curve = []  # [(step, value)] of every evaluation

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        self.offer(state.global_step, state.epoch, metrics[self.key], model)

    def offer(self, step, epoch, value, model):
        if self.curve and self.curve[-1][0] == step:
            return  # the same step evaluated twice (a final evaluate() after the last one)
        self.curve.append((step, value))
        if self.best is None or value > self.best:
            self.best, self.step, self.epoch = value, step, epoch
            self.state = copy.deepcopy(model.state_dict())
