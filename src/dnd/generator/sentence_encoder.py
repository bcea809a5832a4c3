"""A sentence-transformers BERT pipeline (Transformer -> mean Pooling -> Normalize) run with
plain torch and the `tokenizers` library, for a fast cold start.

Importing sentence-transformers (and with it transformers' modeling stack, scikit-learn,
peft...) costs seconds; `dnd generate` only needs the encoder's forward pass. This module
rebuilds that forward pass op for op as transformers 5 runs it for BertModel with SDPA
attention (embeddings sum, LayerNorm, a boolean padding mask only when a batch has padding,
erf GELU) and the pooling sentence-transformers applies (masked mean with float32
accumulation, then L2 normalization), including its length-sorted batching, so that the
embeddings are bit-identical to `SentenceTransformer.encode` (tests/generator/
test_sentence_encoder.py checks this against the real library).

    enc = BertSentenceEncoder.load(folder)        # None when the folder is not of this form
    enc.encode(texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True)

It offers the part of the SentenceTransformer API dnd uses (`encode`, `max_seq_length`,
`get_sentence_embedding_dimension`, `.to(dtype)`); anything else falls back to the real one:

    enc = load_encoder()                          # the default MiniLM: this copy; else a SentenceTransformer
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from dnd.assets import DEFAULT_ENCODER, resolve_encoder
from dnd.errors import DndError

MODULE_TYPES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                "sentence_transformers.models.Normalize")


def _read(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _mean_pooling(config: dict) -> bool:
    """Whether a Pooling config (old boolean keys or the newer "pooling_mode") is plain mean pooling."""
    if "pooling_mode" in config:
        return config["pooling_mode"] in ("mean", ["mean"]) and config.get("include_prompt", True)
    return {k for k, v in config.items() if k.startswith("pooling_mode_") and v is True} == {"pooling_mode_mean_tokens"}


def supported(folder: Path) -> bool:
    """Whether `folder` is a sentence-transformers model this module reproduces exactly:
    modules Transformer, mean Pooling and optionally Normalize, over an absolute-position
    BERT encoder with erf GELU, with a tokenizer.json and no extra preprocessing."""
    modules = _read(folder / "modules.json")
    if not isinstance(modules, list) or not 2 <= len(modules) <= 3:
        return False
    if [m.get("type") for m in modules] != list(MODULE_TYPES[: len(modules)]) or modules[0].get("path"):
        return False
    if not _mean_pooling(_read(folder / modules[1].get("path", "") / "config.json") or {}):
        return False
    config = _read(folder / "config.json") or {}
    st_config = _read(folder / "sentence_bert_config.json") or {}
    return (config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and not config.get("is_decoder") and not st_config.get("do_lower_case")
            and (folder / "tokenizer.json").is_file() and (folder / "model.safetensors").is_file())


class _Linear(nn.Module):
    """nn.Linear's forward over weights taken from a checkpoint (no random init to pay for)."""

    def __init__(self, state: dict, prefix: str):
        super().__init__()
        self.weight = nn.Parameter(state[prefix + "weight"], requires_grad=False)
        self.bias = nn.Parameter(state[prefix + "bias"], requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class _LayerNorm(_Linear):
    def __init__(self, state: dict, prefix: str, eps: float):
        super().__init__(state, prefix)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


def _embedding(state: dict, name: str) -> nn.Parameter:
    return nn.Parameter(state[name], requires_grad=False)


class _Layer(nn.Module):
    """One BERT layer as transformers' BertLayer computes it (SDPA attention, erf GELU)."""

    def __init__(self, state: dict, prefix: str, heads: int, eps: float):
        super().__init__()
        self.query, self.key, self.value = (_Linear(state, f"{prefix}attention.self.{name}.")
                                            for name in ("query", "key", "value"))
        self.attn_out = _Linear(state, prefix + "attention.output.dense.")
        self.attn_norm = _LayerNorm(state, prefix + "attention.output.LayerNorm.", eps)
        self.ffn_in = _Linear(state, prefix + "intermediate.dense.")
        self.ffn_out = _Linear(state, prefix + "output.dense.")
        self.ffn_norm = _LayerNorm(state, prefix + "output.LayerNorm.", eps)
        self.head_dim = self.query.weight.shape[0] // heads

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:  # (B, L, D)
        shape = (*h.shape[:-1], -1, self.head_dim)
        q, k, v = (proj(h).view(*shape).transpose(1, 2) for proj in (self.query, self.key, self.value))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=self.head_dim ** -0.5,
                                           is_causal=False)  # (B, heads, L, head_dim)
        a = a.transpose(1, 2).contiguous().reshape(*h.shape[:-1], -1).contiguous()
        h = self.attn_norm(self.attn_out(a) + h)
        return self.ffn_norm(self.ffn_out(F.gelu(self.ffn_in(h))) + h)


class _Bert(nn.Module):
    """BertModel's forward to the last hidden state (no pooler), from its state dict."""

    def __init__(self, config: dict, state: dict):
        super().__init__()
        eps = config["layer_norm_eps"]
        self.word = _embedding(state, "embeddings.word_embeddings.weight")
        self.position = _embedding(state, "embeddings.position_embeddings.weight")
        self.token_type = _embedding(state, "embeddings.token_type_embeddings.weight")
        self.norm = _LayerNorm(state, "embeddings.LayerNorm.", eps)
        self.layers = nn.ModuleList(_Layer(state, f"encoder.layer.{i}.", config["num_attention_heads"], eps)
                                    for i in range(config["num_hidden_layers"]))

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None]  # (1, L)
        h = F.embedding(input_ids, self.word) + F.embedding(token_type_ids, self.token_type)
        h = self.norm(h + F.embedding(positions, self.position))
        # transformers passes no mask when nothing is padded (SDPA then takes another kernel)
        mask = None
        if not bool(attention_mask.all()):
            b, n = attention_mask.shape
            mask = attention_mask.bool()[:, None, None, :].expand(b, 1, n, n)
        for layer in self.layers:
            h = layer(h, mask)
        return h  # (B, L, D)


class BertSentenceEncoder(nn.Module):
    """Sentence embeddings of a Transformer -> mean Pooling [-> Normalize] model (see module doc)."""

    def __init__(self, folder: Path, bert: _Bert, tokenizer, normalize: bool, max_seq_length: int, pad_token: str):
        super().__init__()
        self.folder, self.bert, self.tokenizer, self.normalize = folder, bert, tokenizer, normalize
        self.max_seq_length = max_seq_length  # word pieces per text, [CLS] and [SEP] included
        self.pad_token, self.pad_id = pad_token, tokenizer.token_to_id(pad_token)

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu",
             dtype: torch.dtype | None = None) -> "BertSentenceEncoder | None":
        """The encoder in `folder` with its weights cast to `dtype` (None: as stored), or
        None when `supported(folder)` is false."""
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        if not supported(folder):
            return None
        state = load_file(folder / "model.safetensors")
        if dtype is not None:  # the same rounding as Module.to(dtype) on the loaded encoder
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        try:
            bert = _Bert(_read(folder / "config.json"), state)
        except KeyError as e:
            raise DndError(f"{folder}: model.safetensors has no tensor {e.args[0]}") from None
        max_len = (_read(folder / "sentence_bert_config.json") or {}).get("max_seq_length")
        max_len = max_len or (_read(folder / "tokenizer_config.json") or {}).get("model_max_length", 512)
        normalize = len(_read(folder / "modules.json")) == 3
        pad = (_read(folder / "special_tokens_map.json") or {}).get("pad_token", "[PAD]")
        pad = pad["content"] if isinstance(pad, dict) else pad
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        return cls(folder, bert, tokenizer, normalize, max_len, pad).to(device).eval()

    def get_sentence_embedding_dimension(self) -> int:
        return self.bert.word.shape[1]

    @property
    def device(self) -> torch.device:
        return self.bert.word.device

    def _tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """As transformers' tokenizer call: padding=True (to the longest), truncation
        "longest_first" at max_seq_length, [CLS] ... [SEP]."""
        tok = self.tokenizer
        tok.enable_truncation(self.max_seq_length, strategy="longest_first")
        tok.enable_padding(pad_id=self.pad_id, pad_type_id=0, pad_token=self.pad_token)
        out = tok.encode_batch(texts)
        return {name: torch.tensor([getattr(e, attr) for e in out], dtype=torch.long, device=self.device)
                for name, attr in (("input_ids", "ids"), ("token_type_ids", "type_ids"),
                                   ("attention_mask", "attention_mask"))}

    def _pool(self, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """sentence-transformers' mean pooling (float32 sums for half precisions), then Normalize."""
        acc = torch.float32 if h.dtype in (torch.float16, torch.bfloat16) else h.dtype
        mask = attention_mask.unsqueeze(-1).to(h.dtype)
        total = (h * mask).sum(dim=1, dtype=acc)
        mean = (total / torch.clamp(mask.sum(dim=1, dtype=acc), min=1e-9)).to(h.dtype)
        return F.normalize(mean, p=2, dim=-1) if self.normalize else mean

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 32, convert_to_tensor: bool = True,
               normalize_embeddings: bool = False, show_progress_bar: bool | None = None,
               output_value: str = "sentence_embedding"):
        """(n, D) sentence embeddings (a tensor on the encoder's device), or with
        output_value="token_embeddings" a list of (len_i, D) token states, in the texts'
        order; batched longest first, as SentenceTransformer.encode does."""
        import numpy as np

        if output_value not in ("sentence_embedding", "token_embeddings"):
            raise ValueError(f"output_value {output_value!r}: expected sentence_embedding or token_embeddings")
        order = np.argsort([-len(t) for t in texts])
        out: list[torch.Tensor] = []
        for start in range(0, len(texts), batch_size):
            feats = self._tokenize([texts[i] for i in order[start:start + batch_size]])
            h = self.bert(**feats)
            if output_value == "token_embeddings":
                out.extend(row[: max(1, int(m.sum()))] for row, m in zip(h, feats["attention_mask"]))  # right-padded
                continue
            emb = self._pool(h, feats["attention_mask"])
            out.extend(F.normalize(emb, p=2, dim=1) if normalize_embeddings else emb)
        out = [out[i] for i in np.argsort(order)]
        if output_value == "token_embeddings":
            return out
        return torch.stack(out) if out else torch.zeros(0, self.get_sentence_embedding_dimension())


ENCODER_BACKEND_ENV = "DND_ENCODER_BACKEND"  # "sentence-transformers": never the fast path (tests, comparisons)


def load_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu", backend: str | None = None, dtype=None):
    """The frozen sentence encoder, in eval mode, one shared instance per arguments; `dtype`
    (e.g. torch.bfloat16) a copy in that precision, None the stored one. `backend` "auto" (default, or
    $DND_ENCODER_BACKEND): this module's plain-torch copy of the
    sentence-transformers pipeline where the model is of the form it reproduces bit for bit
    (the default MiniLM is), else a SentenceTransformer; "sentence-transformers": always
    the latter. Both offer `encode`, `max_seq_length`, `get_sentence_embedding_dimension`."""
    backend = backend or os.environ.get(ENCODER_BACKEND_ENV) or "auto"
    if backend not in ("auto", "sentence-transformers"):
        raise DndError(f"{ENCODER_BACKEND_ENV}={backend}: expected auto or sentence-transformers")
    return _load_encoder(name, device, backend, dtype)


@lru_cache(maxsize=8)
def _load_encoder(name: str, device: str, backend: str, dtype):
    path = resolve_encoder(name)
    if backend == "auto" and Path(path).is_dir():
        # skips importing sentence-transformers and transformers: seconds of a cold `dnd generate`
        fast = BertSentenceEncoder.load(path, device=device, dtype=dtype)
        if fast is not None:
            return fast
    if dtype is not None:  # a converted copy: the stored-precision instance stays as it is
        import copy

        return copy.deepcopy(_load_encoder(name, device, backend, None)).to(dtype)
    from sentence_transformers import SentenceTransformer

    try:
        enc = SentenceTransformer(path, device=device)
    except OSError as e:
        raise DndError(f"--encoder {name}: cannot load ({str(e).splitlines()[0]})") from None
    return enc.eval()
