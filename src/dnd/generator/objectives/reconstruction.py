"""Reconstruction: the generated LoRA should equal one of the task's zoo checkpoints.

    TokenReconstruction  token heads (conv, basis): MSE on the normalized LoRA tokens,
                         weighted per token by its variability across checkpoints (the
                         paper's loss), with Gaussian noise on the target
    DeltaReconstruction  the shared head (A and B directly, possibly on a reference adapter
                         of another rank): the relative Frobenius error of the adapter's
                         weight delta s B A
"""

from __future__ import annotations

import torch

from dnd.generator.objectives.base import Term, differentiable_term


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


class TokenReconstruction:
    """mask: (T, H, W) value cells; weights: (T,) or None; noise: std of the target noise
    (drawn from torch's global RNG, which the training state saves)."""

    def __init__(self, mask: torch.Tensor, weights: torch.Tensor | None, noise: float):
        self.mask, self.weights, self.noise = mask, weights, noise

    def loss(self, out, batch) -> Term:
        target = torch.stack(batch.targets)  # (B, T, r, w + 2)
        target = target + self.noise * torch.randn_like(target)
        return differentiable_term(masked_mse(out.tokens, target, self.mask, self.weights))


class DeltaReconstruction:
    """keys: the layout's PEFT keys; pairs: (lora_A key, lora_B key) per module; scales:
    PEFT's alpha / r of the generated adapter and of the zoo's."""

    def __init__(self, keys, pairs, gen_scale: float, zoo_scale: float, device: str):
        self.keys, self.pairs, self.gen_scale, self.zoo_scale, self.device = keys, pairs, gen_scale, zoo_scale, device

    def loss(self, out, batch) -> Term:
        target = {k: torch.stack([t[k] for t in batch.targets]).to(self.device) for k in self.keys}
        return differentiable_term(delta_reconstruction(out.state(), self.gen_scale, target, self.zoo_scale, self.pairs))
