"""Contrastive: the functional objective plus a margin that pays for task-specific adapters.

The functional objective (functional.py) asks each condition's adapter only to be good on
its own task's items, so one adapter shared by every task is an optimum of it, and trained
generators find it: conditioning on another task's prompts scores the same as on the true
ones. This objective also asks condition b's adapter to beat another task's adapter on b's
items by a margin:

    L_own(b)   = loss(adapter_b,  items_b)
    L_other(b) = loss(adapter_b', items_b)      b' = the next condition of the batch
                                                (b + 1, b + 2, ... cyclically) of another task
    loss(b)    = L_own(b) + contrast_weight * relu(margin + L_own(b) - L_other(b))
    value      = weight * mean_b loss(b)

A condition whose batch holds no other task contributes L_own alone. The hinge pushes
gradient into both adapters: b's down on its items, b''s up on them. A shared adapter gives
L_own = L_other, so it pays contrast_weight * margin per condition.

detach (`dnd train --contrast-detach`): L_other is computed without gradient, so the hinge
moves only b's own adapter. Without it, the hinge can also be met by making b''s adapter worse
on b's items (adapters that differ by what each breaks elsewhere, not by what each does well
on its own task); detached, the only way to pay the margin is to beat the partner on one's
own items. It also skips the partner's backward pass (about 1.5x the functional step, not 2x).

cap (`dnd train --contrast-cap`): L_other counts at most L_ref(b), the loss on b's items of the
adapter with a zero delta (the reference, or the base model without one), computed without
gradient:  hinge = relu(margin + L_own(b) - min(L_other(b), L_ref(b))). A partner already worse
than the reference on b's items gets no push to be worse still, so the margin can only be paid
by b's own adapter beating the reference by it. Why: uncapped, the 168-task run of 2026-12-07
met the margin by adapters that break other tasks (docs/generator.md), not by better own ones.
It costs one forward pass without gradient per paired condition.

One pass (a loss with `one_pass` set, CachedLowerLoss): every condition's items under its own and
its partner's adapter go through the model in one forward pass (row_lora.py), the detached
partner read from a detached copy of the weights; the same value and gradients.

Cost: each condition runs its items twice through the base model (its own adapter and the
other's), about 2x the functional objective's step; both of a condition's base-model graphs
are held until its loss is backpropagated into the leaf copies (functional.per_condition_term),
then the head is run backwards once. contrast_weight = 0 gives the functional objective's
value and gradients (at this cost).
"""

from __future__ import annotations

import torch

from dnd.generator.objectives.base import Term, differentiable_term
from dnd.generator.objectives.functional import condition_state, per_condition_term


def contrast_of(tasks: list[str], b: int) -> int | None:
    """The next condition after b (cyclically) whose task differs from b's; None if none."""
    n = len(tasks)
    return next((c % n for c in range(b + 1, b + n) if tasks[c % n] != tasks[b]), None)


class Contrastive:
    """loss_fn(state, examples) -> scalar: FunctionalLoss or CachedLowerLoss; weight: of the
    whole objective; contrast_weight, margin: of the hinge; detach: no gradient into the
    partner's adapter through the hinge; cap: the zero-delta adapter's weights {key: shape},
    whose loss caps the partner's (module docstring)."""

    def __init__(self, loss_fn, weight: float = 1.0, contrast_weight: float = 1.0, margin: float = 0.1,
                 detach: bool = False, cap: dict[str, torch.Tensor] | None = None):
        self.fn, self.weight, self.contrast_weight, self.margin = loss_fn, weight, contrast_weight, margin
        self.detach, self.cap = detach, cap

    def _capped(self, against: torch.Tensor, items, like: dict[str, torch.Tensor]) -> torch.Tensor:
        """min(against, the zero-delta adapter's loss on `items`) with a cap; keys and dtype of `like`."""
        if self.cap is None:
            return against
        with torch.no_grad():
            ref = self.fn({k: self.cap[k].to(v) for k, v in like.items()}, items)
        return torch.minimum(against, ref)

    def loss(self, out, batch) -> Term:
        if getattr(self.fn, "one_pass", False):
            return self._grouped(out.state(), batch)

        def loss_of(leaves: dict[str, torch.Tensor], b: int) -> torch.Tensor:
            items = batch.examples[b]
            own = self.fn(condition_state(leaves, b), items)
            other = contrast_of(batch.tasks, b)
            if other is None:
                return own
            with torch.set_grad_enabled(not self.detach):  # another task's adapter on b's items
                partner = condition_state(leaves, other)
                against = self._capped(self.fn(partner, items), items, partner)
            return own + self.contrast_weight * torch.relu(self.margin + own - against)

        return per_condition_term(out.state(), len(batch.examples), self.weight, loss_of)

    def _grouped(self, state: dict[str, torch.Tensor], batch) -> Term:
        n = len(batch.examples)
        partners = [(b, contrast_of(batch.tasks, b)) for b in range(n)]
        partners = [(b, c) for b, c in partners if c is not None]
        if self.detach:  # conditions n .. 2n - 1: the same weights, no gradient
            state = {k: torch.cat([v, v.detach()]) for k, v in state.items()}  # (2B, *shape)
        shift = n if self.detach else 0
        groups = [(b, batch.examples[b]) for b in range(n)] + [(c + shift, batch.examples[b]) for b, c in partners]
        if self.cap is not None:  # one more row of weights: the zero-delta adapter, no gradient
            ref_row = next(iter(state.values())).shape[0]
            state = {k: torch.cat([v, self.cap[k].to(v).unsqueeze(0)]) for k, v in state.items()}
            groups += [(ref_row, batch.examples[b]) for b, _ in partners]
        losses = self.fn.grouped(state, groups)  # (n + len(partners) [x 2 with cap],)
        m = len(partners)
        against = {b: losses[n + j] if self.cap is None else torch.minimum(losses[n + j], losses[n + m + j].detach())
                   for j, (b, _) in enumerate(partners)}
        per_condition = torch.stack([
            losses[b] + self.contrast_weight * torch.relu(self.margin + losses[b] - against[b]) if b in against
            else losses[b] for b in range(n)])  # (B,)
        return differentiable_term(self.weight * per_condition.mean())
