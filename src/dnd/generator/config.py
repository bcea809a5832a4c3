"""The generator's resolved configuration, saved next to its weights (GEN_DIR)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from dnd.generator.condition import ConditionSettings

# GEN_DIR file names
CONFIG = "generator_config.json"
WEIGHTS = "generator.safetensors"
LOSSES = "losses.json"
STATE = "train_state.pt"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class DecoderSettings:
    """Size of the cascaded hyper-convolutional decoder. The default trains in minutes on
    2 CPU cores; `paper()` is the published scale (for GPUs)."""

    hidden_channels: tuple[int, ...] = (64, 64)
    kernel: int = 3
    layer_kernel: int = 3
    n_basis: int = 16  # > 0: basis-coefficient head instead of the conv output (see decoder.py)

    @classmethod
    def paper(cls) -> "DecoderSettings":
        # Eight layers with 9x9 kernels and wide layer-wise convolutions (~1e9 parameters
        # with token-level conditions of 128 prompts x 384 tokens).
        return cls(hidden_channels=(256, 512, 1024, 1024, 2048, 2048, 4096), kernel=9, layer_kernel=9, n_basis=0)


@dataclass(frozen=True)
class GenTrainSettings:
    steps: int = 200
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    grad_clip: float = 1.0
    cond_noise: float = 1e-4  # Gaussian noise on the condition (paper)
    target_noise: float = 1e-5  # and on the target tokens (paper)
    token_weighting: bool = True  # weight each token by its variability across checkpoints
    max_pool: int = 512  # prompts per task kept for sampling conditions
    seed: int = 0
    device: str = "cpu"
    save_every: int = 100


@dataclass(frozen=True)
class GeneratorConfig:
    condition: ConditionSettings = field(default_factory=ConditionSettings)
    decoder: DecoderSettings = field(default_factory=DecoderSettings)
    train: GenTrainSettings = field(default_factory=GenTrainSettings)
    chunk: int | None = None  # LoRA token chunk width; None = inferred from the layout

    def to_json(self) -> dict:
        d = asdict(self)
        d["condition"] = self.condition.to_json()
        d["decoder"]["hidden_channels"] = list(self.decoder.hidden_channels)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "GeneratorConfig":
        dec = dict(d["decoder"], hidden_channels=tuple(d["decoder"]["hidden_channels"]))
        return cls(condition=ConditionSettings(**d["condition"]), decoder=DecoderSettings(**dec),
                   train=GenTrainSettings(**d["train"]), chunk=d.get("chunk"))
