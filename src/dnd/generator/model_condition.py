"""A condition that sees the model: the frozen base model's own reading of the prompts.

A MiniLM embedding says what the prompts are about; it cannot see how the base model
reacts to them, which is what label-free calibration corrects (its bias over the answer
set). This condition reads, for each prompt formatted as in training and scoring (chat
template, ending at the assistant turn: the position that predicts the answer):

    h_l  the hidden state at that position of each chosen layer l              (D,) each
    u    the model's lean over the task's answer set there:                     (D,)
         u = sum_c (p(c | x) - 1/C) e_c, p the softmax over the first tokens of the C
         choices, e_c their output embeddings (zero when the task has no fixed answer set)

per prompt a row (k + 1) x D, and over the N prompts of a condition (`aggregate`):

    [mean_x h_l, std_x h_l for each layer l, mean_x u]                          (M,) = ((2k + 1) D,)

mean_x u = sum_c (mean_x p(c | x) - 1/C) e_c is the batch-calibration statistic written in
the model's embedding space, so it is the same kind of vector whatever the answer set is.
Rows are cached on disk (keyed by the base model's identity, layers and texts) like the
MiniLM features, since the base model is frozen.
"""

from __future__ import annotations

import hashlib

import torch

from dnd.assets import cache_dir
from dnd.fileio import memo_tensor
from dnd.lora.attach import bf16_is_fast
from dnd.lora.prompt import encode_prompt


def resolve_layers(layers: tuple[int, ...], n_layers: int) -> tuple[int, ...]:
    """The configured layers; () = the default, the middle and the last layer (once each)."""
    return tuple(dict.fromkeys(tuple(layers) or (n_layers // 2, n_layers - 1)))


def label_set(items) -> tuple[str, ...] | None:
    """The answer set shared by every item (their `choices`), else None."""
    sets = {tuple(it.choices) for it in items if it.choices}
    return next(iter(sets)) if len(sets) == 1 and all(it.choices for it in items) else None


def feature_dim(hidden: int, layers: tuple[int, ...]) -> int:
    """M, the aggregated condition's size."""
    return (2 * len(layers) + 1) * hidden


def aggregate(rows: torch.Tensor) -> torch.Tensor:
    """(N, k + 1, D) per-prompt rows -> (M,) = [means of h_l, stds of h_l, mean of u]."""
    h, u = rows[:, :-1], rows[:, -1]  # (N, k, D), (N, D)
    std = h.std(dim=0, unbiased=False) if rows.shape[0] > 1 else torch.zeros_like(h[0])
    return torch.cat([h.mean(dim=0).flatten(), std.flatten(), u.mean(dim=0)])


class ModelReader:
    """Per-prompt rows (n, k + 1, D) from a causal LM (used frozen, without adapters);
    `bf16`: under bfloat16 autocast (2x faster on a CPU with native bf16; the rows are read
    back in float32); None: where the model's device computes bf16 natively
    (dnd.lora.attach.bf16_is_fast; on a CPU without it autocast is ~30x slower), as the
    MiniLM encoder chooses, at training and generation alike."""

    def __init__(self, model, tokenizer, layers: tuple[int, ...], identity: str, max_length: int = 256,
                 batch_size: int = 16, bf16: bool | None = None):
        self.model, self.tok, self.layers, self.identity = model, tokenizer, tuple(layers), identity
        if bf16 is None:
            bf16 = bf16_is_fast(next(model.parameters()).device.type)
        self.max_length, self.batch_size, self.bf16 = max_length, batch_size, bf16

    def _first_tokens(self, choices) -> torch.Tensor | None:
        if not choices:
            return None
        return torch.tensor([self.tok(c, add_special_tokens=False)["input_ids"][0] for c in choices])

    @torch.no_grad()
    def rows(self, prompts: list[str], choices=None) -> torch.Tensor:
        """(n, k + 1, D) float32 rows of `prompts`; `choices`: the task's answer set or None."""
        if hasattr(self.model, "disable_adapter"):  # a PEFT model: read the base alone
            with self.model.disable_adapter():
                return self._rows(prompts, choices)
        return self._rows(prompts, choices)

    def _rows(self, prompts: list[str], choices) -> torch.Tensor:
        first = self._first_tokens(choices)
        device = next(self.model.parameters()).device
        emb = self.model.get_output_embeddings().weight  # (V, D)
        out = []
        for i in range(0, len(prompts), self.batch_size):
            ids = [encode_prompt(self.tok, p, self.max_length) for p in prompts[i: i + self.batch_size]]
            width = max(map(len, ids))
            input_ids = torch.full((len(ids), width), self.tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(ids), width), dtype=torch.long)
            for j, seq in enumerate(ids):  # left padding: the answer position is the last one
                input_ids[j, width - len(seq):], mask[j, width - len(seq):] = torch.tensor(seq), 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16):
                res = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                 position_ids=pos.to(device), output_hidden_states=True, logits_to_keep=1)
            hs = [res.hidden_states[layer + 1][:, -1].float() for layer in self.layers]  # k x (b, D)
            if first is None:
                u = torch.zeros_like(hs[0])
            else:
                p = res.logits[:, -1, first.to(device)].float().softmax(-1)  # (b, C)
                u = (p - 1.0 / len(first)) @ emb[first.to(device)].float()  # (b, D)
            out.append(torch.stack([*hs, u], dim=1).cpu())  # (b, k + 1, D)
        return torch.cat(out)

    def cached_rows(self, prompts: list[str], choices=None) -> torch.Tensor:
        """`rows`, memoized on disk as safetensors (a damaged file is recomputed)."""
        h = hashlib.sha256(f"{self.identity}|{self.layers}|{self.max_length}|{self.bf16}|{choices}".encode())
        for p in prompts:
            h.update(hashlib.sha256(p.encode()).digest())
        path = cache_dir() / "model_features" / f"{h.hexdigest()[:32]}.safetensors"
        return memo_tensor(path, "rows", lambda: self.rows(prompts, choices), lambda r: r.shape[0] == len(prompts))
