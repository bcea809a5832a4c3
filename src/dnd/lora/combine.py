"""Two ways to make one adapter of several: the element-wise mean, and rank concatenation.

Averaging (`average_states`) is meaningful for adapters that share their initialisation,
as zoo LoRAs do (the "average LoRA" baseline, the zoo-mean reference).

Rank concatenation writes two adapters as ONE plain PEFT adapter whose delta is their sum.
PEFT computes W x + s B A x with s = lora_alpha / r. For a reference (A1, B1, r1, alpha1)
and a delta (A2, B2, r2, alpha2), with s_i = alpha_i / r_i, the adapter

    A = [A1; A2]                      (r1 + r2, in)
    B = [B1 * s1 / s2, B2]            (out, r1 + r2)
    r = r1 + r2, lora_alpha = s2 * r  (so its scale is s2)

gives s2 B A = s1 B1 A1 + s2 B2 A2: exactly the two adapters' deltas summed. The delta's
blocks are written unchanged, so a delta means the same with or without its reference
(dnd.generator.residual: a generated delta over a reference adapter).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from dnd.lora.settings import LoraSettings, scale


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of lora_A and lora_B (meaningful because zoo LoRAs share their init)."""
    return {k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]}


def _number(x: float):
    return int(x) if float(x).is_integer() else float(x)


def combined_settings(ref: LoraSettings, delta: LoraSettings) -> LoraSettings:
    """Shape of the concatenated adapter: r = r1 + r2, lora_alpha so that its scale is the delta's."""
    r = ref.r + delta.r
    return replace(delta, r=r, lora_alpha=_number(scale(delta) * r))


def concat_ranks(ref_state: dict[str, torch.Tensor], ref_lora: LoraSettings,
                 delta_state: dict[str, torch.Tensor], delta_lora: LoraSettings) -> dict[str, torch.Tensor]:
    """One state dict whose adapter (settings: `combined_settings`) equals reference + delta.

    Delta tensors may carry leading batch dims, (..., r2, in) and (..., out, r2); the
    reference's are unbatched and broadcast. Differentiable in the delta."""
    factor = scale(ref_lora) / scale(delta_lora)
    out = {}
    for key, d in delta_state.items():
        ref = ref_state[key].to(device=d.device, dtype=d.dtype)
        if ".lora_A." in key:
            out[key] = torch.cat([ref.expand(*d.shape[:-2], *ref.shape), d], dim=-2)  # (..., r1 + r2, in)
        else:
            ref = ref * factor
            out[key] = torch.cat([ref.expand(*d.shape[:-2], *ref.shape), d], dim=-1)  # (..., out, r1 + r2)
    return out
