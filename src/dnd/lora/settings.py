"""The shape of a LoRA adapter, in PEFT's names, and the scale PEFT applies to it.

    lora = LoraSettings(r=8, lora_alpha=16)       # the paper's small-model setting (default)
    lora.to_peft()                                # peft.LoraConfig (imports peft)
    LoraSettings.from_json(lora.to_json())        # as zoo manifests and generator configs keep it
    scale(lora)                                   # lora_alpha / r: the factor on B A
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraSettings:
    """The adapter shape; PEFT's names. Paper's small-model setting by default."""

    r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = ALL_LINEAR

    def to_peft(self):
        """The same settings as a peft.LoraConfig for a causal LM (imports peft)."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
            target_modules=list(self.target_modules), task_type="CAUSAL_LM", bias="none",
        )

    def to_json(self) -> dict:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "LoraSettings":
        return cls(**{**d, "target_modules": tuple(d["target_modules"])})


def scale(lora: LoraSettings) -> float:
    """PEFT's scaling of an adapter's B A (no rsLoRA): W x + scale * B A x."""
    return lora.lora_alpha / lora.r
