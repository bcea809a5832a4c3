"""The objectives' interface, and which objectives a configuration trains with.

    objective.loss(out, batch) -> Term     out: heads' HeadOutput; batch: sampler.Batch

A Term carries the objective's value (for the log) and how to backpropagate it into the
generator. The loop computes every term first, then calls their `backward` in reverse
order (all but the last keeping the graph), so that an objective which backpropagates in
pieces (functional.py: one base-model graph per condition) shares one head forward with
the others.

    reconstruction  match the zoo's checkpoints (reconstruction.py)
    functional      the task's own loss through the generated LoRA (functional.py)
    hybrid          reconstruction + hybrid_weight * functional
    contrastive     functional + a margin over another task's adapter on the same items (contrastive.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch



@dataclass
class Term:
    """value: the objective's (weighted) loss, detached; backward(retain) puts its gradient
    into the generator's parameters."""

    value: torch.Tensor
    backward: Callable[[bool], None]


class Objective(Protocol):
    def loss(self, out, batch) -> Term: ...


def differentiable_term(loss: torch.Tensor) -> Term:
    """A Term for a loss that is one differentiable tensor."""
    return Term(loss.detach(), lambda retain: loss.backward(retain_graph=retain))


def total_loss_and_backward(objectives: list, out, batch) -> torch.Tensor:
    """Every objective's term on one head output; backpropagate them all. -> summed value."""
    terms = [obj.loss(out, batch) for obj in objectives]
    for i, term in enumerate(reversed(terms)):
        term.backward(i < len(terms) - 1)
    return sum(t.value for t in terms)
