"""The learning curve: the task loss of held-out items of training tasks, during training.

Held-out items are the HELD_OUT_ITEMS of each task's train pool right after the `max_pool`
items training draws conditions from (so never a condition prompt nor, with or without a
separate `item_pool`, which starts after them, a labeled item of a step), and never an eval
pool item. Every `every` steps (and at the last) the generator writes an adapter for each
curve task from a fixed condition (sampler.fixed_batch) and the functional loss of the
held-out items is taken through it, without gradients and without drawing random numbers,
so measuring does not change the run. Written to GEN_DIR/learning_curve.json.

Beside it, the shuffled control at no training cost: each task's held-out items under the
adapter written from the NEXT curve task's condition (cyclically). heldout_loss_shuffled -
heldout_loss > 0 says the condition selects an adapter better for its own task than another
task's adapter is; a generator that ignores its condition gives 0.
"""

from __future__ import annotations

import torch

from dnd.tasks.registry import load_pools

HELD_OUT_ITEMS = 8  # per curve task, right after its first max_pool train-pool items


class LearningCurve:
    """tasks: the curve's tasks (training tasks with held-out items); examples: {task:
    [encoded items]}; functional: the objective's FunctionalLoss."""

    def __init__(self, tasks: list[str], examples: dict, functional, every: int):
        self.tasks, self.examples, self.functional, self.every = tasks, examples, functional, every

    @classmethod
    def build(cls, tasks: list[str], functional, max_pool: int, n_tasks: int = 8, n_items: int = HELD_OUT_ITEMS,
              every: int = 100) -> "LearningCurve | None":
        """The first `n_tasks` of `tasks` that have held-out items; None if none has."""
        chosen, examples = [], {}
        for task in tasks:
            held = load_pools(task)[0][max_pool: max_pool + n_items]
            if held:
                chosen.append(task)
                examples[task] = functional.encode(held)
            if len(chosen) == n_tasks:
                break
        return cls(chosen, examples, functional, every) if chosen else None

    def due(self, step: int, total: int) -> bool:
        return step % self.every == 0 or step == total

    @torch.no_grad()
    def measure(self, training, step: int) -> dict:
        """-> {"step", "heldout_loss" (mean over tasks), "per_task", and with two or more
        tasks "heldout_loss_shuffled", "per_task_shuffled" (the next task's adapter)}."""
        training.net.eval()
        try:
            out = training.head(training.sampler.fixed_batch(self.tasks))
            state = out.state()

            def loss(i: int, task: str) -> float:  # task's held-out items under curve task i's adapter
                return float(self.functional({k: v[i] for k, v in state.items()}, self.examples[task]))

            n = len(self.tasks)
            per_task = {t: loss(i, t) for i, t in enumerate(self.tasks)}
            shuffled = {t: loss((i + 1) % n, t) for i, t in enumerate(self.tasks)} if n > 1 else {}
        finally:
            training.net.train()
        point = {"step": step, "heldout_loss": sum(per_task.values()) / n, "per_task": per_task}
        if shuffled:
            point.update(heldout_loss_shuffled=sum(shuffled.values()) / n, per_task_shuffled=shuffled)
        return point
