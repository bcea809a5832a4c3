"""Residual adapters: a reference adapter plus a generated delta, written as ONE plain
PEFT adapter by concatenating ranks.

PEFT computes W x + s B A x with s = lora_alpha / r. For a reference (A1, B1, r1, alpha1)
and a delta (A2, B2, r2, alpha2), with s_i = alpha_i / r_i, the adapter

    A = [A1; A2]                      (r1 + r2, in)
    B = [B1 * s1 / s2, B2]            (out, r1 + r2)
    r = r1 + r2, lora_alpha = s2 * r  (so its scale is s2)

gives s2 B A = s1 B1 A1 + s2 B2 A2: exactly the two adapters' deltas summed. The delta's
blocks are written unchanged, so a generated delta means the same with or without its
reference.

The reference is either a PEFT adapter directory (e.g. the multi-task LoRA) or the zoo
mean: the element-wise average of the training tasks' full-shot LoRAs (the "average LoRA"
baseline; meaningful because zoo LoRAs share their initialisation).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from dnd.errors import DndError
from dnd.zoo.lora import LoraSettings

ZOO_MEAN = "zoo-mean"
NONE = "none"


def _number(x: float):
    return int(x) if float(x).is_integer() else float(x)


def scale(lora: LoraSettings) -> float:
    """PEFT's scaling of an adapter's B A (no rsLoRA)."""
    return lora.lora_alpha / lora.r


def combined_settings(ref: LoraSettings, delta: LoraSettings) -> LoraSettings:
    """Shape of the written adapter: r = r1 + r2, lora_alpha so that its scale is the delta's."""
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


def check_fits(ref_state: dict[str, torch.Tensor], delta_shapes: dict[str, tuple[int, int]], where: str) -> None:
    """Raise DndError unless the reference adapts exactly the delta's modules."""
    missing = sorted(set(delta_shapes) - set(ref_state))
    extra = sorted(set(ref_state) - set(delta_shapes))
    if missing or extra:
        what = f"lacks {missing[0]}" if missing else f"has an extra weight {extra[0]}"
        raise DndError(f"--reference {where}: does not fit the generated LoRA ({what})")
    for key, (a, b) in delta_shapes.items():
        ref = tuple(ref_state[key].shape)
        other = ref[1] if ".lora_A." in key else ref[0]
        if other != (b if ".lora_A." in key else a):
            raise DndError(f"--reference {where}: {key} has shape {ref}, the generated LoRA needs {(a, b)}")


def load_reference(spec: str, zoo_dir: Path | None, manifest: dict | None,
                   tasks: list[str]) -> tuple[dict[str, torch.Tensor], LoraSettings, str]:
    """--reference ADAPTER_DIR | zoo-mean -> (state dict, its settings, a description)."""
    from dnd.evaluation.adapters import adapter_settings, average_states, read_adapter

    if spec == ZOO_MEAN:
        if manifest is None:
            raise DndError("--reference zoo-mean needs --zoo")
        states = [read_adapter(zoo_dir / manifest["tasks"][t]["full_shot"]["path"]) for t in tasks]
        return average_states(states), LoraSettings.from_json(manifest["lora"]), f"{ZOO_MEAN} of {len(tasks)} tasks"
    path = Path(spec)
    if not (path / "adapter_config.json").exists() or not (path / "adapter_model.safetensors").exists():
        raise DndError(f"--reference {spec}: not a PEFT adapter directory (nor 'zoo-mean' or 'none')")
    state = {k: v.float() for k, v in read_adapter(path).items()}
    return state, adapter_settings(path), str(path)
