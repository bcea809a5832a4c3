"""A LoRA on a base model and off it again, through PEFT.

    peft_model = attach_lora(model, LoraSettings(), seed=0)   # A random (seeded), B zero
    state = lora_state_dict(peft_model)                       # the adapter's weights alone
    prepare_precision(peft_model, "bf16")                     # frozen base in bf16, LoRA in fp32

The state dict uses PEFT's saved names (`...q_proj.lora_A.weight`), as in an adapter
directory's adapter_model.safetensors, so it can be written, averaged, generated or
swapped into another wrapped model (dnd.lora.swap) as it is.
"""

from __future__ import annotations

import torch

from dnd.lora.settings import LoraSettings

PRECISIONS = ("fp32", "bf16")


def attach_lora(model, lora: LoraSettings, seed: int = 0):
    """Wrap a base model in a fresh PEFT LoRA (A random with `seed`, B zero)."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    return get_peft_model(model, lora.to_peft())


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
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    for name, param in peft_model.named_parameters():
        param.data = param.data.float() if "lora_" in name else param.data.to(dtype)
    for buf_name, buf in peft_model.named_buffers():
        if buf.is_floating_point() and "inv_freq" not in buf_name:
            buf.data = buf.data.to(dtype)
