"""One base model, many adapters: swap LoRA weights in place instead of reloading.

Evaluating a dozen adapters on the same items is the inner loop of `dnd reproduce`; the
base model is wrapped in PEFT once and each adapter's state dict is copied in. The base
model itself is the same wrapper with every lora_B set to zero (exactly the base logits).
"""

from __future__ import annotations

from pathlib import Path

import torch

from dnd.assets import load_base_model
from dnd.errors import DndError
from dnd.zoo.lora import LoraSettings, attach_lora, prepare_precision
from dnd.zoo.manifest import ADAPTER_CONFIG, ADAPTER_WEIGHTS


def read_adapter(path: str | Path) -> dict[str, torch.Tensor]:
    from dnd.artifacts import PICKLE_SUFFIXES, load_safetensors

    path = Path(path)
    if not (path / ADAPTER_WEIGHTS).exists():
        pickles = sorted(p.name for p in path.glob("*") if p.suffix in PICKLE_SUFFIXES) if path.is_dir() else []
        also = f"; found {pickles[0]}, but only safetensors are read, never pickles" if pickles else ""
        raise DndError(f"--adapter {path}: not a PEFT adapter directory (no {ADAPTER_WEIGHTS}{also})")
    return load_safetensors(path / ADAPTER_WEIGHTS)


def adapter_settings(path: str | Path) -> LoraSettings:
    from dnd.artifacts import read_json_file

    path = Path(path)
    if not (path / ADAPTER_CONFIG).exists():
        raise DndError(f"--adapter {path}: not a PEFT adapter directory (no {ADAPTER_CONFIG})")
    c = read_json_file(path / ADAPTER_CONFIG)
    if not isinstance(c, dict) or not isinstance(c.get("r"), int) or not isinstance(c.get("lora_alpha"), (int, float)) \
            or not isinstance(c.get("target_modules"), list):
        raise DndError(f"{path / ADAPTER_CONFIG}: not a LoRA adapter config (needs r, lora_alpha, target_modules)")
    return LoraSettings(r=c["r"], lora_alpha=c["lora_alpha"], lora_dropout=c.get("lora_dropout", 0.0),
                        target_modules=tuple(sorted(c["target_modules"])))


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of lora_A and lora_B (meaningful because zoo LoRAs share their init)."""
    return {k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]}


class AdapterModel:
    """A base model wrapped once with a LoRA of `lora` shape; `use(state)` swaps weights."""

    def __init__(self, base_model: str, lora: LoraSettings, device: str = "cpu", precision: str = "fp32"):
        model, self.tokenizer = load_base_model(base_model, device=device)
        self.model = attach_lora(model, lora).eval()
        prepare_precision(self.model, precision)  # bf16: frozen base weights in bf16, LoRA in fp32
        self._names = {self._saved_name(n): n for n, _ in self.model.named_parameters() if "lora_" in n}

    @staticmethod
    def _saved_name(live: str) -> str:
        return live.replace(".default.weight", ".weight")

    @torch.no_grad()
    def use(self, state: dict[str, torch.Tensor] | None) -> "AdapterModel":
        """Load an adapter's weights (PEFT saved names), or None for the plain base model."""
        params = dict(self.model.named_parameters())
        if state is None:
            for live in self._names.values():
                if "lora_B" in live:
                    params[live].zero_()
            return self
        missing = set(self._names) - set(state)
        unexpected = set(state) - set(self._names)
        if missing or unexpected:
            bad = sorted(missing or unexpected)[0]
            raise DndError(f"adapter does not fit this base model / LoRA shape ({'missing' if missing else 'unexpected'} {bad})")
        for saved, live in self._names.items():
            params[live].copy_(state[saved].to(params[live].dtype))
        return self
