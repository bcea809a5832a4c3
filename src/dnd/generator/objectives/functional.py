"""Functional: apply the generated LoRA to the frozen base model and take the next-token
loss on labeled train-pool items of the condition's task (answer tokens only, as in zoo
training); gradients flow through the generated weights into the generator. Needs no zoo.
"""

from __future__ import annotations

import torch

from dnd.generator.objectives.base import Term, differentiable_term
from dnd.lora.attach import attach_lora
from dnd.lora.train import autocast, collate, encode_example


class _LossOf(torch.nn.Module):
    """model + batch -> loss, as one module, so functional_call can substitute its weights."""

    def __init__(self, model, fast: bool):
        super().__init__()
        self.model, self.fast = model, fast

    def forward(self, batch):
        if self.fast:  # left-padded; the LM head only on the answer positions (dnd.lora.train)
            from dnd.lora.train import answer_only_loss

            return answer_only_loss(self.model, batch)
        return self.model(**batch).loss


class FunctionalLoss:
    """Next-token loss of labeled items through a generated LoRA on the frozen base model.

    One PEFT-wrapped copy of the base model, shaped like the written adapter; each call
    substitutes the generated lora_A / lora_B tensors for its adapter parameters with
    torch.func.functional_call, so the loss is differentiable in them. precision "bf16"
    casts the frozen base weights to bf16 (dnd.lora.attach.prepare_precision) and uses the
    training loop's fast answer-only loss (dnd.lora.train); the generated weights stay fp32.
    """

    def __init__(self, model, tokenizer, lora, device: str = "cpu", max_length: int = 256,
                 precision: str = "fp32"):
        peft_model = attach_lora(model, lora).to(device)
        if precision != "fp32":
            from dnd.lora.attach import prepare_precision

            prepare_precision(peft_model, precision)
        for p in peft_model.parameters():
            p.requires_grad_(False)
        peft_model.eval()  # LoRA dropout is 0; eval also turns off any base-model dropout
        self.fast = precision != "fp32"
        self.module = _LossOf(peft_model, self.fast)
        self.tokenizer, self.device, self.max_length = tokenizer, device, max_length
        self.names = {n.replace(".default.weight", ".weight")[len("model."):]: n
                      for n, _ in self.module.named_parameters() if "lora_" in n}

    def encode(self, items) -> list[tuple[list[int], list[int]]]:
        """Labeled items -> (input_ids, labels) examples (answer tokens only)."""
        return [encode_example(self.tokenizer, it, self.max_length) for it in items]

    def __call__(self, state: dict[str, torch.Tensor], examples) -> torch.Tensor:
        """Mean next-token loss of `examples` under the adapter `state` (PEFT saved names)."""
        missing = set(self.names) - set(state)
        if missing:
            raise ValueError(f"generated state lacks {sorted(missing)[0]}")
        batch = collate(examples, self.tokenizer.pad_token_id, **({"left": True} if self.fast else {}))
        batch = {k: v.to(self.device) for k, v in batch.items()}
        params = {self.names[k]: v for k, v in state.items()}
        with autocast(self.device):
            loss = torch.func.functional_call(self.module, params, args=(batch,))
        return loss.float()


def condition_state(state: dict[str, torch.Tensor], b: int) -> dict[str, torch.Tensor]:
    """Condition b's adapter of a batched state: {key: (B, *shape)} -> {key: shape}."""
    return {k: v[b] for k, v in state.items()}


def per_condition_term(state: dict[str, torch.Tensor], n: int, weight: float, loss_of) -> Term:
    """weight x the mean over n conditions of loss_of(leaves, b), condition b's scalar loss
    computed from `leaves`, detached leaf copies of `state` ({key: (B, *shape)}).

    Memory: each condition's loss is backpropagated into the leaves at once (its base-model
    graphs freed before the next), and `Term.backward` sends the leaves' summed gradient
    through the head once."""
    leaves = {k: v.detach().requires_grad_() for k, v in state.items()}  # (B, *shape) each
    total = 0.0
    for b in range(n):
        loss = loss_of(leaves, b)
        (loss * (weight / n)).backward()
        total += loss.detach().item() / n
    keys = [k for k in state if leaves[k].grad is not None]

    def backward(retain: bool) -> None:
        torch.autograd.backward([state[k] for k in keys], [leaves[k].grad for k in keys], retain_graph=retain)

    value = torch.tensor(total, device=next(iter(state.values())).device)
    return Term(weight * value, backward)


class Functional:
    """The functional objective: the task loss of each condition's labeled items under its
    generated adapter, weight x the mean over conditions: one condition's base-model graph at a
    time (per_condition_term), one pass through the head; a loss with `one_pass` set
    (CachedLowerLoss) scores every condition in one forward pass (its `grouped`, row_lora.py)."""

    def __init__(self, loss: FunctionalLoss, weight: float = 1.0):
        self.fn, self.weight = loss, weight

    def loss(self, out, batch) -> Term:
        n = len(batch.examples)
        if getattr(self.fn, "one_pass", False):
            losses = self.fn.grouped(out.state(), [(b, batch.examples[b]) for b in range(n)])  # (B,)
            return differentiable_term(self.weight * losses.mean())
        return per_condition_term(out.state(), n, self.weight,
                                  lambda leaves, b: self.fn(condition_state(leaves, b), batch.examples[b]))
