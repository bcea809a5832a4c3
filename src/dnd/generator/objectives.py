"""Training objectives of the generator.

    reconstruction  match the zoo's checkpoints: MSE on normalized LoRA tokens for the token
                    heads (the paper's loss), or the relative Frobenius error of the adapter's
                    weight delta s B A for the shared head (whose output is A and B directly,
                    and may sit on a reference adapter of another rank)
    functional      apply the generated LoRA to the frozen base model and take the next-token
                    loss on labeled train-pool items of the condition's task (answer tokens
                    only, as in zoo training); gradients flow through the generated weights
                    into the generator. Needs no zoo.
    hybrid          reconstruction + hybrid_weight * functional
"""

from __future__ import annotations

import torch

from dnd.lora.attach import attach_lora
from dnd.lora.train import autocast, collate, encode_example

OBJECTIVES = ("reconstruction", "functional", "hybrid")


def masked_mse(pred, target, mask, weights=None):
    """pred, target: (B, T, H, W); mask: (T, H, W) bool; weights: (T,) or None."""
    err = (pred - target).pow(2) * mask
    if weights is not None:
        err = err * weights[:, None, None]
    return err.sum() / (mask.sum() * pred.shape[0])


def _sq_norm_of_sum(bs: list[torch.Tensor], as_: list[torch.Tensor]) -> torch.Tensor:
    """||sum_i B_i A_i||_F^2 without forming the (out, in) matrices: with U = [B_1 ...] and
    V = [A_1; ...], ||U V||^2 = sum((U^T U) * (V V^T)). B_i: (..., out, r_i), A_i: (..., r_i, in)."""
    u, v = torch.cat(bs, dim=-1), torch.cat(as_, dim=-2)  # (..., out, R), (..., R, in)
    return ((u.transpose(-1, -2) @ u) * (v @ v.transpose(-1, -2))).sum(dim=(-1, -2)).clamp_min(0)


def delta_reconstruction(pred: dict[str, torch.Tensor], pred_scale: float, target: dict[str, torch.Tensor],
                         target_scale: float, pairs: list[tuple[str, str]]) -> torch.Tensor:
    """Mean over the batch of sum_m ||dW_pred - dW_target||^2 / sum_m ||dW_target||^2, where
    dW = scale * B A for each adapted module m (pairs of lora_A, lora_B keys). Tensors (B, ...)."""
    err, norm = 0.0, 0.0
    for ka, kb in pairs:
        b_t = target[kb] * target_scale
        err = err + _sq_norm_of_sum([pred[kb] * pred_scale, -b_t], [pred[ka], target[ka]])
        norm = norm + _sq_norm_of_sum([b_t], [target[ka]])
    return (err / norm.clamp_min(1e-12)).mean()


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
