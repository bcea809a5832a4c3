"""The task sampler: what one training step of the generator sees.

Each draw takes `batch_size` conditions. One condition is a task (uniform over the training
tasks), a fresh random sample of N prompts from its train pool, and, as the objectives and
the head need them:
    desc        one of the task's descriptions, with the drop-out flags has_p / has_d
                (a head that reads both learns to work with either missing)
    model       the frozen base model's reading of the same N prompts (model_condition.py)
    target      one of the task's zoo checkpoints (reconstruction)
    examples    `items_per_task` labeled train-pool items, disjoint from the condition's
                prompts where the pool allows, or drawn from a separate item pool per task
                (`separate_items`) (functional)

All draws come from one seeded torch.Generator (saved with the training state), in a fixed
order per condition, so a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Batch:
    """One step's conditions. cond: (B, N, H, W) prompt features; desc: (B, D) or None;
    has_p / has_d: (B,) 0/1 or None; model: (B, M) or None; targets: per condition a
    zoo checkpoint ((T, H, W) tokens or {key: tensor}); examples: per condition a list
    of encoded labeled items."""

    tasks: list[str]
    cond: torch.Tensor
    desc: torch.Tensor | None = None
    has_p: torch.Tensor | None = None
    has_d: torch.Tensor | None = None
    model: torch.Tensor | None = None
    targets: list = field(default_factory=list)
    examples: list = field(default_factory=list)


class TaskSampler:
    """Draws Batches from per-task pools.

    pools: {task: (n_pool, H, W)} prompt features; descs: {task: (n_d, D)} or None;
    model_pools: {task: (n_pool, F)} per-prompt base-model features, with `aggregate`
    turning the N drawn rows into the (M,) condition, or None; targets: {task: (K, ...)
    tokens} or {task: {key: (K, *shape)}} or None; examples: {task: [encoded items]} or None.
    """

    def __init__(self, tasks: list[str], pools: dict, n_prompts: int, device: str = "cpu",
                 descs: dict | None = None, drop_prob: float = 0.0, model_pools: dict | None = None,
                 aggregate=None, targets: dict | None = None, examples: dict | None = None,
                 items_per_task: int = 4, model_prompts: int = 8, separate_items: bool = False):
        self.tasks, self.pools, self.n, self.device = tasks, pools, n_prompts, device
        self.descs, self.drop_prob = descs, drop_prob
        self.model_pools, self.aggregate, self.model_prompts = model_pools, aggregate, model_prompts
        self.targets, self.examples, self.items_per_task = targets, examples, items_per_task
        self.separate_items = separate_items  # examples[task] is its own pool, not the condition pool's items

    def _rand(self, n: int, rng: torch.Generator) -> int:
        return int(torch.randint(n, (1,), generator=rng))

    def _n_targets(self, task: str) -> int:
        t = self.targets[task]
        return t.shape[0] if torch.is_tensor(t) else next(iter(t.values())).shape[0]

    def draw(self, batch_size: int, rng: torch.Generator) -> Batch:
        tasks, conds, desc, has_p, has_d, model, targets, examples = [], [], [], [], [], [], [], []
        for _ in range(batch_size):
            task = self.tasks[self._rand(len(self.tasks), rng)]
            n_pool = self.pools[task].shape[0]
            order = torch.randperm(n_pool, generator=rng)
            idx = order[: self.n] if n_pool >= self.n else order.repeat(-(-self.n // n_pool))[: self.n]
            tasks.append(task)
            conds.append(self.pools[task][idx.to(self.device)])  # (N, H, W)
            if self.model_pools is not None:
                rows = self.model_pools[task][idx[: self.model_prompts].to(self.device)]  # (m, k + 1, D)
                model.append(self.aggregate(rows))  # (M,)
            if self.descs is not None:
                desc.append(self.descs[task][self._rand(self.descs[task].shape[0], rng)])
                u = float(torch.rand((), generator=rng))
                # drop one of the two inputs with probability drop_prob each (never both)
                has_p.append(0.0 if u < self.drop_prob else 1.0)
                has_d.append(0.0 if self.drop_prob <= u < 2 * self.drop_prob else 1.0)
            if self.targets is not None:
                k = self._rand(self._n_targets(task), rng)
                t = self.targets[task]
                targets.append(t[k] if torch.is_tensor(t) else {key: v[k] for key, v in t.items()})
            if self.examples is not None:
                k, pool = self.items_per_task, self.examples[task]
                if self.separate_items:
                    rest = torch.randperm(len(pool), generator=rng)
                else:  # the condition pool's other items where it has enough
                    rest = order[self.n:] if n_pool > self.n + k else order.flip(0)
                examples.append([pool[int(i)] for i in rest[:k]])
        batch = Batch(tasks=tasks, cond=torch.stack(conds), targets=targets, examples=examples)  # cond (B, N, H, W)
        if self.descs is not None:
            batch.desc = torch.stack(desc)  # (B, D)
            batch.has_p = torch.tensor(has_p, device=self.device)
            batch.has_d = torch.tensor(has_d, device=self.device)
        if self.model_pools is not None:
            batch.model = torch.stack(model)  # (B, M)
        return batch

    def fixed_batch(self, tasks: list[str]) -> Batch:
        """One condition per task from the first N prompts of its pool (cycled if fewer),
        its first description, both inputs present: the same batch every time (learning
        curves). Draws no random numbers."""
        conds, model = [], []
        for task in tasks:
            n_pool = self.pools[task].shape[0]
            idx = torch.arange(self.n) % n_pool
            conds.append(self.pools[task][idx.to(self.device)])  # (N, H, W)
            if self.model_pools is not None:
                model.append(self.aggregate(self.model_pools[task][idx[: self.model_prompts].to(self.device)]))
        batch = Batch(tasks=list(tasks), cond=torch.stack(conds))
        if self.descs is not None:
            batch.desc = torch.stack([self.descs[t][0] for t in tasks])
            batch.has_p = batch.has_d = torch.ones(len(tasks), device=self.device)
        if self.model_pools is not None:
            batch.model = torch.stack(model)
        return batch
