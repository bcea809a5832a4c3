"""The condition: a frozen sentence encoder over a batch of N unlabeled prompts.

Two kinds, chosen by config:
    pooled  one normalized sentence embedding per prompt, folded (D,) -> (H, W), e.g.
            384 -> (16, 24); the condition of N prompts is (N, 16, 24)
    tokens  the paper's token-level last hidden states, (L, D) per prompt, padded or cut to
            L = max_tokens; the condition is (N, L, D)
Per-prompt features are cached on disk as safetensors (keyed by encoder, kind and the prompt
texts), since the encoder is frozen and the zoo's prompt pools are fixed.

Speed (generation): the default MiniLM runs without sentence-transformers, bit for bit the
same (dnd.generator.sentence_encoder: seconds less at a cold start); prompts are encoded in
length-sorted batches (as sentence-transformers sorts them, so a batch pads to similar
lengths), and with `bf16=True` by a bfloat16 copy of the encoder, where the device computes
bf16 natively (2.3x faster on an AVX-512 CPU; every pooled feature within cosine 0.9999 of
float32, see benchmarks/bench_generate.py). Training features stay float32.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from dnd.assets import DEFAULT_ENCODER, cache_dir, resolve_encoder
from dnd.fileio import memo_tensor
from dnd.generator.sentence_encoder import load_encoder

ENCODER_DIM = 384  # all-MiniLM-L6-v2; other encoders report their own


@dataclass(frozen=True)
class ConditionSettings:
    encoder: str = DEFAULT_ENCODER
    kind: str = "pooled"  # "pooled" | "tokens"
    n_prompts: int = 128  # N
    max_tokens: int = 32  # L, for kind="tokens"
    # word pieces the encoder reads per prompt; None = the encoder's own limit (256 for
    # MiniLM). Encoding is most of generation time on a CPU and grows with this.
    encoder_max_tokens: int | None = None
    # what the head reads: "minilm" (the sentence encoder above), "model" (the frozen base
    # model's reading of the prompts, model_condition.py) or "both"
    source: str = "minilm"
    model_layers: tuple[int, ...] = ()  # layers whose answer-position state is read (resolved at training)
    model_prompts: int = 8  # of the N prompts, how many the base model reads (its cost grows with it)

    def to_json(self) -> dict:
        d = asdict(self)
        if d["encoder_max_tokens"] is None:
            del d["encoder_max_tokens"]  # configs saved before the option existed stay equal
        if self.source == "minilm":
            for k in ("source", "model_layers", "model_prompts"):
                del d[k]
        else:
            d["model_layers"] = list(self.model_layers)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ConditionSettings":
        d = dict(d)
        if "model_layers" in d:
            d["model_layers"] = tuple(d["model_layers"])
        return cls(**d)

    @property
    def reads_model(self) -> bool:
        return self.source in ("model", "both")

    @property
    def reads_minilm(self) -> bool:
        return self.source in ("minilm", "both")


def fold(dim: int) -> tuple[int, int]:
    """(H, W) with H * W = dim, H the largest divisor <= sqrt(dim)."""
    h = max(d for d in range(1, math.isqrt(dim) + 1) if dim % d == 0)
    return h, dim // h


class ConditionEncoder:
    """Turns prompts into per-prompt features (n, H, W) and batches into conditions."""

    def __init__(self, settings: ConditionSettings, device: str = "cpu"):
        if settings.kind not in ("pooled", "tokens"):
            raise ValueError(f"condition kind {settings.kind!r}: expected 'pooled' or 'tokens'")
        self.settings, self.device = settings, device
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = load_encoder(self.settings.encoder, self.device)
        return self._model

    @property
    def dim(self) -> int:
        if self.settings.encoder == DEFAULT_ENCODER:
            return ENCODER_DIM  # known without loading the encoder
        return self.model.get_sentence_embedding_dimension()

    def feature_shape(self) -> tuple[int, int]:
        if self.settings.kind == "pooled":
            return fold(self.dim)
        return (self.settings.max_tokens, self.dim)

    def cond_shape(self) -> tuple[int, int, int]:
        return (self.settings.n_prompts, *self.feature_shape())

    @property
    def bf16_model(self):
        """A bfloat16 copy of the encoder (the float32 one is shared and stays as it is);
        generation loads only this one."""
        return load_encoder(self.settings.encoder, self.device, dtype=torch.bfloat16)

    @torch.no_grad()
    def features(self, prompts: list[str], batch_size: int = 64, bf16: bool = False) -> torch.Tensor:
        """(n, H, W) float32 features of each prompt; `bf16`: computed by the bfloat16 encoder."""
        s = self.settings
        model = self.bf16_model if bf16 else self.model
        default_length = model.max_seq_length
        model.max_seq_length = s.encoder_max_tokens or default_length  # the loaded encoder is shared
        try:
            return self._encode(model, prompts, batch_size)
        finally:
            model.max_seq_length = default_length

    def _encode(self, model, prompts: list[str], batch_size: int) -> torch.Tensor:
        # model.encode sorts the prompts by length, so each batch pads to similar lengths
        s = self.settings
        if s.kind == "pooled":
            emb = model.encode(prompts, batch_size=batch_size, convert_to_tensor=True,
                               normalize_embeddings=True, show_progress_bar=False)
            return emb.float().cpu().reshape(len(prompts), *self.feature_shape())
        out = torch.zeros(len(prompts), s.max_tokens, self.dim)
        hidden = model.encode(prompts, batch_size=batch_size, output_value="token_embeddings",
                              show_progress_bar=False)
        for i, h in enumerate(hidden):  # (len_i, D)
            h = h[: s.max_tokens].float().cpu()
            out[i, : h.shape[0]] = h
        return out

    def cached_features(self, prompts: list[str]) -> torch.Tensor:
        """`features` (float32), memoized on disk as safetensors; an unreadable cache file
        (e.g. from an older version, or damaged) is recomputed and replaced."""
        s = self.settings
        key = f"{resolve_encoder(s.encoder)}|{s.kind}|{s.max_tokens}"
        if s.encoder_max_tokens is not None:
            key += f"|{s.encoder_max_tokens}"
        h = hashlib.sha256(key.encode())
        for p in prompts:
            h.update(hashlib.sha256(p.encode()).digest())
        path = cache_dir() / "features" / f"{h.hexdigest()[:32]}.safetensors"
        shape = (len(prompts), *self.feature_shape())
        return memo_tensor(path, "features", lambda: self.features(prompts), lambda f: f.shape == shape)

    @staticmethod
    def sample(n_pool: int, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n,) indices into a pool of n_pool prompts, drawn without replacement (cycled if
        the pool is smaller than n)."""
        order = torch.randperm(n_pool, generator=generator)
        if len(order) < n:
            order = order.repeat(math.ceil(n / len(order)))
        return order[:n]

    @staticmethod
    def batch(features: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n_pool, H, W) -> (n, H, W): n prompts sampled by `sample`."""
        return features[ConditionEncoder.sample(features.shape[0], n, generator).to(features.device)]
