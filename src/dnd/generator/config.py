"""The generator's resolved configuration, saved next to its weights (GEN_DIR)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from dnd.generator.condition import ConditionSettings

# GEN_DIR file names
CONFIG = "generator_config.json"
WEIGHTS = "generator.safetensors"
LOSSES = "losses.json"
STATE = "train_state.safetensors"  # tensors of an interrupted run (model, optimizer, RNG)
STATE_INFO = "train_state.json"  # and its scalars; written after STATE
REFERENCE = "reference.safetensors"  # the reference adapter of a residual generator
MANIFEST = "manifest.json"
LAYOUT = "lora_layout.json"
CURVE = "learning_curve.json"  # held-out loss of training tasks during training (curve.py)

OBJECTIVES = ("reconstruction", "functional", "hybrid", "contrastive")  # objectives/base.py
ZOO_OBJECTIVES = ("reconstruction", "hybrid")  # fit the zoo's checkpoints: need a zoo
TASK_LOSS_OBJECTIVES = ("functional", "hybrid", "contrastive")  # the task loss through the base model
HEADS = ("shared", "basis", "conv")
CONDITION_SOURCES = ("minilm", "model", "both")


def _drop_defaults(d: dict, cls, names: tuple[str, ...]) -> dict:
    """Leave out options added later while they hold their defaults, so the configs of
    generators saved before them serialize (and compare) as before."""
    defaults = {f.name: f.default for f in fields(cls)}
    return {k: v for k, v in d.items() if k not in names or v != defaults[k]}


@dataclass(frozen=True)
class HeadSettings:
    """The compact shared head (heads.py): one MLP over learned layer and module embeddings
    for every LoRA site; `width` shared basis matrices per module type."""

    width: int = 64
    embed_dim: int = 32
    cond_dim: int = 128
    description: bool = True  # also reads a task description (sentence embedding)
    b_scale: float = 1e-3  # lora_B = b_scale * output map (heads.py: the size of a trained lora_B)
    top_layers: int = 0  # > 0: a delta on the top N layers only (objectives/cached_lower.py); 0: all

    NEW = ("top_layers",)

    def to_json(self) -> dict:
        return _drop_defaults(asdict(self), HeadSettings, self.NEW)


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
    objective: str = "reconstruction"  # see objectives/base.py
    hybrid_weight: float = 1.0  # weight of the functional term in "hybrid"
    contrast_weight: float = 1.0  # "contrastive": weight of its hinge (objectives/contrastive.py)
    contrast_margin: float = 0.1  # and its margin (nats: the loss is a mean cross-entropy)
    contrast_detach: bool = False  # the hinge moves only the condition's own adapter, not its partner's
    contrast_cap: bool = False  # the partner's loss counts at most the zero-delta adapter's (the reference's)
    items_per_task: int = 4  # labeled items per condition for the functional loss
    # labeled items per task kept apart from the condition prompts (the train pool after the
    # first max_pool prompts and the learning curve's held-out items); 0: drawn from the
    # condition pool itself, disjoint from each condition's prompts
    item_pool: int = 0
    max_length: int = 256  # tokens per labeled item
    drop_prob: float = 0.25  # P(no prompts), P(no description) per condition, when the head reads both
    precision: str = "fp32"  # base model in the functional loss: "fp32" or "bf16" (dnd.lora.train)
    # with a top-layers delta: every condition's items in one forward pass (objectives/row_lora.py)
    one_pass: bool = False

    NEW = ("objective", "hybrid_weight", "items_per_task", "max_length", "drop_prob", "precision", "item_pool",
           "contrast_weight", "contrast_margin", "contrast_detach", "contrast_cap", "one_pass")

    def to_json(self) -> dict:
        return _drop_defaults(asdict(self), GenTrainSettings, self.NEW)


@dataclass(frozen=True)
class GeneratorConfig:
    condition: ConditionSettings = field(default_factory=ConditionSettings)
    decoder: DecoderSettings = field(default_factory=DecoderSettings)
    train: GenTrainSettings = field(default_factory=GenTrainSettings)
    chunk: int | None = None  # LoRA token chunk width; None = inferred from the layout
    # None: the decoder's token output (basis head if decoder.n_basis else the paper's conv)
    head: HeadSettings | None = None
    reference: str = "none"  # residual over: "none", "zoo-mean" or a PEFT adapter directory

    @property
    def head_kind(self) -> str:
        if self.head is not None:
            return "shared"
        return "basis" if self.decoder.n_basis else "conv"

    def to_json(self) -> dict:
        d = asdict(self)
        d["condition"] = self.condition.to_json()
        d["decoder"]["hidden_channels"] = list(self.decoder.hidden_channels)
        d["train"] = self.train.to_json()
        if self.head is not None:
            d["head"] = self.head.to_json()
        return _drop_defaults(d, GeneratorConfig, ("head", "reference"))

    @classmethod
    def from_json(cls, d: dict) -> "GeneratorConfig":
        dec = dict(d["decoder"], hidden_channels=tuple(d["decoder"]["hidden_channels"]))
        head = HeadSettings(**d["head"]) if d.get("head") else None
        return cls(condition=ConditionSettings.from_json(d["condition"]), decoder=DecoderSettings(**dec),
                   train=GenTrainSettings(**d["train"]), chunk=d.get("chunk"), head=head,
                   reference=d.get("reference", "none"))
