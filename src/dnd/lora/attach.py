"""A LoRA on a base model and off it again, through PEFT.

    peft_model = attach_lora(model, LoraSettings(), seed=0)   # A random (seeded), B zero
    state = lora_state_dict(peft_model)                       # the adapter's weights alone
    prepare_precision(peft_model, "bf16")                     # frozen base in bf16, LoRA in fp32
    resolve_precision("auto", "cpu")                          # bf16 where the CPU computes it natively, else fp32
    freeze_below(peft_model, 2)                               # train only the top 2 layers' LoRA

The state dict uses PEFT's saved names (`...q_proj.lora_A.weight`), as in an adapter
directory's adapter_model.safetensors, so it can be written, averaged, generated or
swapped into another wrapped model (dnd.lora.swap) as it is.
"""

from __future__ import annotations

import functools
import re
import sys

import torch

from dnd.lora.settings import LoraSettings

PRECISIONS = ("fp32", "bf16")
SLOW_BF16 = ("this CPU has no native bf16 (no AVX-512 / AMX: torch.ops.mkldnn._is_mkldnn_bf16_supported() is "
             "False), so bf16 weights run ~10-30x slower than fp32 here (benchmarks/bench_scoring_precision.py)")


def bf16_is_fast(device: str) -> bool:
    """Whether `device` computes bfloat16 natively (CUDA with bf16, or an AVX-512 / AMX CPU).
    On an AVX2-only CPU, torch runs bf16 matmuls through slow fallbacks: a bf16 functional
    step of the generator measured 26.6 s against 0.95 s in fp32 (AMD EPYC without AVX-512)."""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """"auto" -> "bf16" on a CPU that computes it natively, else "fp32" (on CUDA the fp32
    weights run under bf16 autocast, dnd.lora.train.autocast); "fp32" / "bf16" as given."""
    if precision == "auto":
        return "bf16" if device == "cpu" and bf16_is_fast(device) else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected auto or one of {PRECISIONS}")
    return precision


@functools.lru_cache(maxsize=1)
def _warn_slow_bf16() -> None:
    print(f"warning: bf16 requested, but {SLOW_BF16}; --precision fp32 (or auto) is faster", file=sys.stderr)


def attach_lora(model, lora: LoraSettings, seed: int = 0):
    """Wrap a base model in a fresh PEFT LoRA (A random with `seed`, B zero)."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    return get_peft_model(model, lora.to_peft())


def layer_of(key: str) -> int:
    """The decoder layer index in a PEFT name (…layers.12.self_attn…)."""
    found = re.search(r"\.(\d+)\.", key)
    if found is None:
        raise ValueError(f"{key}: no layer index")
    return int(found.group(1))


@torch.no_grad()
def freeze_below(peft_model, top_layers: int) -> None:
    """Keep only the top `top_layers` decoder layers' LoRA trainable: every lora_B below is
    zeroed and every LoRA weight below frozen, so the adapter stays the full shape (it fits a
    zoo of full adapters) but changes the model only in the top layers. 0 leaves all layers."""
    if top_layers <= 0:
        return
    names = [n for n, _ in peft_model.named_parameters() if "lora_" in n]
    first = max(layer_of(n) for n in names) + 1 - top_layers
    for name, param in peft_model.named_parameters():
        if "lora_" in name and layer_of(name) < first:
            param.requires_grad_(False)
            if "lora_B" in name:
                param.zero_()


def lora_state_dict(peft_model) -> dict[str, torch.Tensor]:
    """The adapter's weights under PEFT's saved names (as in adapter_model.safetensors),
    detached fp32 copies on the CPU: the adapter stripped off its base model."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().float().cpu().clone() for k, v in get_peft_model_state_dict(peft_model).items()}


def prepare_precision(peft_model, precision: str) -> None:
    """Cast the frozen base weights for `precision`; LoRA weights stay fp32 (the optimizer
    updates them in full precision; PEFT casts activations to their dtype and back)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {PRECISIONS}")
    device = next(peft_model.parameters()).device.type
    if precision == "bf16" and device == "cpu" and not bf16_is_fast(device):
        _warn_slow_bf16()  # honoured (results made in bf16 reproduce only in bf16), but said once
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    for name, param in peft_model.named_parameters():
        param.data = param.data.float() if "lora_" in name else param.data.to(dtype)
    for buf_name, buf in peft_model.named_buffers():
        if buf.is_floating_point() and "inv_freq" not in buf_name:
            buf.data = buf.data.to(dtype)
