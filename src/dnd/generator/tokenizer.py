"""The LoRA tokenizer: a PEFT LoRA state dict <-> a fixed tensor of tokens (T, r, w + 2).

Layout (inferred from the state dict, so any model, rank or target set works):
  * matrices in natural key order (layer number, then module name, lora_A before lora_B);
  * every lora_A (r, in) and every lora_B transposed (r, out) is cut along its long side
    into chunks of width w; w defaults to the largest divisor of every matrix's long side
    up to 256 (192 for SmolLM2-135M), so most models need no padding at all;
  * each chunk is z-normalized on its own; its mean and log-std are written into the two
    border columns of the token, so a generator predicts its own de-normalization (the
    paper's scheme); padding cells are zero and masked out of the loss.
The round trip token -> weights is exact to float32 rounding (~1e-7 relative).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

import torch

MAX_AUTO_CHUNK = 256
FALLBACK_CHUNK = 128
MIN_STD = 1e-8  # a constant chunk (e.g. an untrained lora_B) gets log-std log(1e-8)


def natural_key(key: str) -> list:
    """Sort 'layers.10' after 'layers.9'; lora_A before lora_B at the same module."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", key)]


@dataclass(frozen=True)
class LoraLayout:
    keys: tuple[str, ...]  # state-dict keys, in token order
    shapes: tuple[tuple[int, int], ...]  # stored shapes: lora_A (r, in), lora_B (out, r)
    chunk: int  # chunk width w

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, torch.Tensor], chunk: int | None = None) -> "LoraLayout":
        keys = tuple(sorted((k for k in state_dict if ".lora_A." in k or ".lora_B." in k), key=natural_key))
        if not keys:
            raise ValueError("state dict has no lora_A / lora_B weights")
        shapes = tuple(tuple(state_dict[k].shape) for k in keys)
        return cls(keys=keys, shapes=shapes, chunk=chunk or auto_chunk(keys, shapes))

    @classmethod
    def from_base_model(cls, model, lora_settings, chunk: int | None = None) -> "LoraLayout":
        """Layout of the LoRA that `lora_settings` would attach to `model` (model untouched)."""
        import copy

        from dnd.lora.attach import attach_lora, lora_state_dict

        return cls.from_state_dict(lora_state_dict(attach_lora(copy.deepcopy(model), lora_settings)), chunk)

    def to_json(self) -> dict:
        return {"keys": list(self.keys), "shapes": [list(s) for s in self.shapes], "chunk": self.chunk}

    @classmethod
    def from_json(cls, d: dict) -> "LoraLayout":
        return cls(keys=tuple(d["keys"]), shapes=tuple(tuple(s) for s in d["shapes"]), chunk=d["chunk"])

    # --- derived geometry -------------------------------------------------------------
    @cached_property
    def rows(self) -> tuple[int, ...]:
        """Rank r of each matrix (token rows it fills)."""
        return tuple(s[0] if _is_a(k) else s[1] for k, s in zip(self.keys, self.shapes))

    @cached_property
    def lengths(self) -> tuple[int, ...]:
        """Long side of each matrix: in-features for A, out-features for B."""
        return tuple(s[1] if _is_a(k) else s[0] for k, s in zip(self.keys, self.shapes))

    @cached_property
    def n_chunks(self) -> tuple[int, ...]:
        return tuple(math.ceil(n / self.chunk) for n in self.lengths)

    @property
    def n_tokens(self) -> int:
        return sum(self.n_chunks)

    @property
    def token_shape(self) -> tuple[int, int]:
        return (max(self.rows), self.chunk + 2)

    @cached_property
    def value_mask(self) -> torch.Tensor:
        """(T, H, W) bool: cells holding weights or statistics (False = padding)."""
        h, w = self.token_shape
        mask = torch.zeros(self.n_tokens, h, w, dtype=torch.bool)
        t = 0
        for r, n, c in zip(self.rows, self.lengths, self.n_chunks):
            for j in range(c):
                width = min(self.chunk, n - j * self.chunk)
                mask[t, :r, :width] = True
                mask[t, :r, self.chunk :] = True
                t += 1
        return mask

    # --- the two directions ---------------------------------------------------------------
    def tokenize(self, state_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        """State dict -> (T, H, W) float32 tokens."""
        missing = [k for k in self.keys if k not in state_dict]
        if missing:
            raise ValueError(f"state dict lacks {len(missing)} LoRA weights of this layout, e.g. {missing[0]}")
        h, w = self.token_shape
        out = torch.zeros(self.n_tokens, h, w)
        t = 0
        for key, r, n, c in zip(self.keys, self.rows, self.lengths, self.n_chunks):
            m = state_dict[key].detach().float().cpu()
            m = m if _is_a(key) else m.T  # (r, n)
            for j in range(c):
                piece = m[:, j * self.chunk : (j + 1) * self.chunk]  # (r, width)
                mean, std = piece.mean(), piece.std(unbiased=False).clamp_min(MIN_STD)
                out[t, :r, : piece.shape[1]] = (piece - mean) / std
                out[t, :r, self.chunk] = mean
                out[t, :r, self.chunk + 1] = std.log()
                t += 1
        return out

    def detokenize(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """(T, H, W) tokens -> state dict. Statistics are averaged over the token's rows, so
        a generated token whose border cells disagree still decodes sensibly."""
        if tuple(tokens.shape) != (self.n_tokens, *self.token_shape):
            raise ValueError(f"tokens of shape {tuple(tokens.shape)}, layout expects {(self.n_tokens, *self.token_shape)}")
        tokens = tokens.detach().float().cpu()
        state, t = {}, 0
        for key, shape, r, n, c in zip(self.keys, self.shapes, self.rows, self.lengths, self.n_chunks):
            pieces = []
            for j in range(c):
                width = min(self.chunk, n - j * self.chunk)
                tok = tokens[t, :r]
                mean, log_std = tok[:, self.chunk].mean(), tok[:, self.chunk + 1].mean()
                pieces.append(tok[:, :width] * log_std.exp() + mean)
                t += 1
            m = torch.cat(pieces, dim=1)  # (r, n)
            state[key] = (m if _is_a(key) else m.T).contiguous().reshape(shape)
        return state


def _is_a(key: str) -> bool:
    return ".lora_A." in key


def auto_chunk(keys, shapes) -> int:
    """Largest width <= 256 dividing every matrix's long side; 128 if that is tiny."""
    lengths = [s[1] if _is_a(k) else s[0] for k, s in zip(keys, shapes)]
    g = 0
    for n in lengths:
        g = math.gcd(g, n)
    best = max(d for d in range(1, min(g, MAX_AUTO_CHUNK) + 1) if g % d == 0)
    return best if best >= 32 else min(FALLBACK_CHUNK, max(lengths))
