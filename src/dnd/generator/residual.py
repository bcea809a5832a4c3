"""Residual adapters: a reference adapter plus a generated delta, written as ONE plain
PEFT adapter by concatenating ranks (dnd.lora.combine: the written adapter's delta is the
reference's plus the generated one's).

The reference is either a PEFT adapter directory (e.g. the multi-task LoRA) or the zoo
mean: the element-wise average of the training tasks' full-shot LoRAs (the "average LoRA"
baseline; meaningful because zoo LoRAs share their initialisation).
"""

from __future__ import annotations

from pathlib import Path

import torch

from dnd.artifacts import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from dnd.errors import DndError
from dnd.lora.combine import average_states
from dnd.lora.io import adapter_settings, read_adapter
from dnd.lora.settings import LoraSettings

ZOO_MEAN = "zoo-mean"
NONE = "none"


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
    if spec == ZOO_MEAN:
        if manifest is None:
            raise DndError("--reference zoo-mean needs --zoo")
        states = [read_adapter(zoo_dir / manifest["tasks"][t]["full_shot"]["path"]) for t in tasks]
        return average_states(states), LoraSettings.from_json(manifest["lora"]), f"{ZOO_MEAN} of {len(tasks)} tasks"
    path = Path(spec)
    if not (path / ADAPTER_CONFIG).exists() or not (path / ADAPTER_WEIGHTS).exists():
        raise DndError(f"--reference {spec}: not a PEFT adapter directory (nor 'zoo-mean' or 'none')")
    state = {k: v.float() for k, v in read_adapter(path).items()}
    return state, adapter_settings(path), str(path)
