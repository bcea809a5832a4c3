"""Paired differences between two methods scored on the same items of the same tasks.

Two methods' means over tasks overlap at 30 items a task (each cell carries about +-17
points), but most of that noise is shared: both see the same items. The paired difference
`A - B` per item removes it. Its interval comes from a two-level bootstrap: tasks are
resampled with replacement, then the items within each drawn task, so that the interval
covers both which tasks a suite holds and which items a task's eval pool holds.

    d = paired_difference(a, b)   # a, b: {task: [0/1 per item]}, the same items in the same order
    d.mean, d.ci95, d.resolved, (d.wins, d.ties, d.losses)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

BOOTSTRAP = 2000


@dataclass(frozen=True)
class PairedDifference:
    mean: float  # mean over tasks of the per-task accuracy difference A - B
    ci95: tuple[float, float]  # two-level bootstrap percentile interval of `mean`
    wins: int  # tasks on which A's accuracy is higher
    ties: int
    losses: int
    n_tasks: int
    n_items: int

    @property
    def resolved(self) -> bool:
        """True where the interval excludes 0: the data tell the two methods apart."""
        return self.ci95[0] > 0 or self.ci95[1] < 0

    def to_json(self) -> dict:
        return {**asdict(self), "ci95": list(self.ci95), "resolved": self.resolved}


def paired_difference(a: dict[str, list[int]], b: dict[str, list[int]], seed: int = 0,
                      n_boot: int = BOOTSTRAP) -> PairedDifference:
    """A minus B over the tasks both have; per task, the two lists score the same items."""
    tasks = [t for t in a if t in b]
    if not tasks:
        raise ValueError("paired_difference: no task scored by both methods")
    diffs = []
    for t in tasks:
        if len(a[t]) != len(b[t]) or not a[t]:
            raise ValueError(f"paired_difference: task {t} has {len(a[t])} items for A and {len(b[t])} for B")
        diffs.append(np.asarray(a[t], dtype=np.float64) - np.asarray(b[t], dtype=np.float64))
    per_task = np.array([d.mean() for d in diffs])  # (T,)
    lengths = np.array([len(d) for d in diffs])  # (T,)
    padded = np.zeros((len(diffs), lengths.max()))  # (T, N): each task's item differences, zero-padded
    for t, d in enumerate(diffs):
        padded[t, : len(d)] = d
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(diffs), (n_boot, len(diffs)))  # (B, T): tasks, with replacement
    n = lengths[drawn]  # (B, T)
    picks = (rng.random((n_boot, len(diffs), lengths.max())) * n[..., None]).astype(np.int64)  # (B, T, N)
    valid = np.arange(lengths.max()) < n[..., None]  # (B, T, N): the first n draws of each task count
    values = np.take_along_axis(padded[drawn], picks, axis=-1) * valid
    boot = (values.sum(-1) / n).mean(-1)  # (B,): mean over drawn tasks of the resampled task means
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return PairedDifference(mean=float(per_task.mean()), ci95=(float(lo), float(hi)),
                            wins=int((per_task > 1e-12).sum()), ties=int((np.abs(per_task) <= 1e-12).sum()),
                            losses=int((per_task < -1e-12).sum()), n_tasks=len(tasks),
                            n_items=int(sum(len(d) for d in diffs)))
