"""One base model, many adapters: swap LoRA weights in place instead of reloading.

Evaluating a dozen adapters on the same items is the inner loop of `dnd reproduce`, and
`dnd serve` answers each request with the adapter it names; the base model is wrapped in
PEFT once and each adapter's state dict is copied in. The base model itself is the same
wrapper with every lora_B set to zero (exactly the base logits).

    runner = AdapterModel(base_model, LoraSettings(), device="cpu", precision="fp32")
    runner.use(read_adapter(path)).model      # the adapted model
    runner.use(None).model                    # the plain base model
"""

from __future__ import annotations

import torch

from dnd.assets import load_base_model
from dnd.errors import DndError
from dnd.lora.attach import attach_lora, prepare_precision
from dnd.lora.settings import LoraSettings


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
