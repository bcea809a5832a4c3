"""The compact output head: one network shared by every layer and module of the LoRA.

The condition path is the paper's cascade of hyper-convolutional stages over the prompt
batch (decoder.HyperConvStage), pooled into one vector per condition; an optional task
description (a sentence embedding) is projected beside it. Either input may be missing:
a learned "missing" vector stands in for it, so one generator accepts prompts, a
description, or both.

    prompts (B, N, H, W) -> stages -> mean over (H, W) -> (B, C) -> (B, Z)
    description (B, D) ----------------------------------------> (B, Z)
    z = LayerNorm(prompt part + description part)                  (B, Z)

Each LoRA site (a layer l and a module type m, e.g. self_attn.q_proj) gets a hidden
vector from z and learned layer and module embeddings, through an MLP shared by all sites:

    h[b, s] = MLP(Wz z[b] + We (layer_emb[l] + module_emb[m]))     (B, S, width)

and one linear map per module type turns h into that site's lora_A (r, in) and lora_B
(out, r). Equivalently, each site's matrices are `width` coefficients over `width` learned
basis matrices of its module type plus a bias matrix: the output space is shared across
layers, so the parameter count is width x r x (in + out) summed over module types, not
over the 30 x 7 sites (SmolLM2-135M, r 8, width 64: 5.4 M parameters in all).

The generated LoRA is a *delta*: lora_B starts at exactly zero (weights and bias of its
output map), lora_A at a PEFT-like random init, so an untrained head adds nothing to its
reference adapter (residual.py) and gradients reach lora_B from the first step.

Output scales: Adam moves every weight of an output map by about lr per step, so an
unscaled lora_B would change by ~lr x width per step (0.06 at lr 1e-3), far beyond the size
of a trained zoo lora_B (1e-4 to 1e-3 for SmolLM2). lora_B is therefore out_b(h) * b_scale
(1e-3) and lora_A is out_a(h) / sqrt(in): the maps predict weights in units of their
typical size.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from dnd.generator.decoder import HyperConvStage, stage_shapes


@dataclass(frozen=True)
class Site:
    """One adapted module: its layer index, module type and PEFT state-dict keys."""

    layer: int
    module: str  # e.g. "self_attn.q_proj"
    key_a: str
    key_b: str


def lora_sites(keys: tuple[str, ...], shapes: tuple[tuple[int, int], ...]) -> tuple[list[Site], dict]:
    """Group a layout's lora_A / lora_B keys into sites. -> (sites, {module: (r, in, out)})."""
    shape_of = dict(zip(keys, shapes))
    sites, geometry = [], {}
    for key in keys:
        if ".lora_A." not in key:
            continue
        prefix = key.split(".lora_A.")[0]
        key_b = key.replace(".lora_A.", ".lora_B.")
        if key_b not in shape_of:
            raise ValueError(f"layout has {key} without its lora_B")
        found = re.search(r"\.(\d+)\.", prefix)
        layer = int(found.group(1)) if found else 0
        module = prefix[found.end():] if found else prefix
        (r, n_in), (n_out, _) = shape_of[key], shape_of[key_b]
        if geometry.setdefault(module, (r, n_in, n_out)) != (r, n_in, n_out):
            module = f"{module}@{r}x{n_in}x{n_out}"  # a module type whose shape differs by layer
            geometry.setdefault(module, (r, n_in, n_out))
        sites.append(Site(layer, module, key, key_b))
    return sites, geometry


class SharedLoraHead(nn.Module):
    """Condition (prompt features and/or a description embedding) -> a LoRA delta.

    forward(cond, desc, has_prompts, has_desc, model_cond) -> {PEFT key: (B, *shape)}.
    cond: (B, N, H, W) prompt features or None; desc: (B, D) or None; has_*: (B,) 0/1;
    model_cond: (B, M) the base model's reading of the prompts (model_condition.py) or None.
    top_layers: > 0, a delta on the top `top_layers` layers only (zeros below).
    """

    def __init__(self, cond_shape: tuple[int, int, int], keys: tuple[str, ...],
                 shapes: tuple[tuple[int, int], ...], hidden_channels: tuple[int, ...] = (64, 64),
                 kernel: int = 3, layer_kernel: int = 3, width: int = 64, embed_dim: int = 32,
                 cond_dim: int = 128, desc_dim: int = 0, b_scale: float = 1e-3, model_dim: int = 0,
                 model_blocks: int = 1, top_layers: int = 0):
        super().__init__()
        c0, h0, w0 = cond_shape
        hidden = tuple(hidden_channels)
        shapes_ = stage_shapes(tuple(cond_shape), (hidden[-1], h0, w0), hidden[:-1])
        self.stages = nn.ModuleList(
            HyperConvStage(ci, co, hi, ho, wi, wo, kernel=kernel, layer_kernel=layer_kernel)
            for (ci, hi, wi), (co, ho, wo) in zip(shapes_[:-1], shapes_[1:]))
        self.prompt_proj = nn.Linear(hidden[-1], cond_dim)
        self.missing_prompts = nn.Parameter(torch.zeros(cond_dim))
        self.desc_proj = nn.Linear(desc_dim, cond_dim) if desc_dim else None
        self.missing_desc = nn.Parameter(torch.zeros(cond_dim)) if desc_dim else None
        # the base model's reading (model_condition.py): model_blocks vectors of model_dim /
        # model_blocks, each layer-normalized (hidden states carry outlier dimensions), with
        # each block's log norm beside them (how far the model leans), then projected
        self.model_blocks = model_blocks
        self.model_proj = nn.Linear(model_dim + model_blocks, cond_dim) if model_dim else None
        self.missing_model = nn.Parameter(torch.zeros(cond_dim)) if model_dim else None
        self.norm = nn.LayerNorm(cond_dim)

        self.sites, geometry = lora_sites(keys, shapes)
        self.modules_ = sorted(geometry)
        n_layers = max(s.layer for s in self.sites) + 1
        # top_layers > 0: only the sites of the top `top_layers` layers get a delta; the
        # others are exact zeros (their adapter is the reference's: objectives/cached_lower.py)
        self.first_layer = n_layers - top_layers if top_layers else 0
        self.layer_emb = nn.Parameter(torch.randn(n_layers, embed_dim) * 0.1)
        self.module_emb = nn.Parameter(torch.randn(len(self.modules_), embed_dim) * 0.1)
        self.register_buffer("site_layer", torch.tensor([s.layer for s in self.sites]), persistent=False)
        self.register_buffer("site_module", torch.tensor([self.modules_.index(s.module) for s in self.sites]),
                             persistent=False)
        self.in_z = nn.Linear(cond_dim, width)
        self.in_e = nn.Linear(embed_dim, width, bias=False)
        self.mlp = nn.Sequential(nn.GELU(), nn.Linear(width, width), nn.GELU())

        self.geometry = {m: geometry[m] for m in self.modules_}
        self.b_scale = b_scale
        self.out_a = nn.ModuleDict()
        self.out_b = nn.ModuleDict()
        for i, m in enumerate(self.modules_):
            r, n_in, n_out = geometry[m]
            a = nn.Linear(width, r * n_in)
            # lora_A = out_a(h) / sqrt(in): unit-range outputs give PEFT's init range (kaiming-uniform)
            nn.init.uniform_(a.bias, -1.0, 1.0)
            nn.init.normal_(a.weight, std=1 / math.sqrt(width))
            b = nn.Linear(width, n_out * r)
            nn.init.zeros_(b.weight)
            nn.init.zeros_(b.bias)
            self.out_a[str(i)], self.out_b[str(i)] = a, b
        # sites of each module type, in layer order: (module index, positions in self.sites)
        self._groups = [(i, [j for j, s in enumerate(self.sites) if s.module == m and s.layer >= self.first_layer])
                        for i, m in enumerate(self.modules_)]

    def model_part(self, model_cond: torch.Tensor) -> torch.Tensor:
        """(B, M) aggregated base-model reading -> (B, Z)."""
        x = model_cond.reshape(model_cond.shape[0], self.model_blocks, -1)  # (B, blocks, D)
        log_norm = torch.log1p(x.norm(dim=-1))  # (B, blocks)
        x = nn.functional.layer_norm(x, x.shape[-1:])
        return self.model_proj(torch.cat([x.flatten(1), log_norm], dim=1))

    def condition_vector(self, cond, desc, has_prompts, has_desc, model_cond=None) -> torch.Tensor:
        """-> z (B, Z)."""
        parts = []
        if cond is not None:
            x = cond  # (B, N, H, W)
            for stage in self.stages:
                x = stage(x)
            p = self.prompt_proj(x.mean(dim=(2, 3)))  # (B, Z)
            w = has_prompts[:, None].to(p.dtype)
            parts.append(w * p + (1 - w) * self.missing_prompts)
        else:
            parts.append(self.missing_prompts.expand(len(has_desc), -1))
        if self.desc_proj is not None:
            if desc is not None:
                d = self.desc_proj(desc)  # (B, Z)
                w = has_desc[:, None].to(d.dtype)
                parts.append(w * d + (1 - w) * self.missing_desc)
            else:
                parts.append(self.missing_desc.expand(parts[0].shape[0], -1))
        if self.model_proj is not None:  # read from the prompts: present or dropped with them
            if model_cond is not None:
                w = has_prompts[:, None].to(parts[0].dtype)
                parts.append(w * self.model_part(model_cond) + (1 - w) * self.missing_model)
            else:
                parts.append(self.missing_model.expand(parts[0].shape[0], -1))
        return self.norm(sum(parts))

    def forward(self, cond=None, desc=None, has_prompts=None, has_desc=None,
                model_cond=None) -> dict[str, torch.Tensor]:
        given = next(x for x in (cond, desc, model_cond) if x is not None)
        batch = given.shape[0]
        ones, zeros = torch.ones(batch, device=self.layer_emb.device), torch.zeros(batch, device=self.layer_emb.device)
        if has_prompts is None:
            has_prompts = ones if cond is not None or model_cond is not None else zeros
        if has_desc is None:
            has_desc = ones if desc is not None else zeros
        z = self.condition_vector(cond, desc, has_prompts, has_desc, model_cond)  # (B, Z)
        e = self.layer_emb[self.site_layer] + self.module_emb[self.site_module]  # (S, E)
        h = self.in_z(z)[:, None, :] + self.in_e(e)[None]  # (B, S, width)
        h = h + self.mlp(h)
        out = {}
        for i, idx in self._groups:
            r, n_in, n_out = self.geometry[self.modules_[i]]
            hi = h[:, idx]  # (B, L_m, width)
            a = self.out_a[str(i)](hi).reshape(batch, len(idx), r, n_in) / math.sqrt(n_in)
            b = self.out_b[str(i)](hi).reshape(batch, len(idx), n_out, r) * self.b_scale
            for j, site_pos in enumerate(idx):
                site = self.sites[site_pos]
                out[site.key_a], out[site.key_b] = a[:, j], b[:, j]
        for site in (s for s in self.sites if s.layer < self.first_layer):  # below the adapted layers: no delta
            r, n_in, n_out = self.geometry[site.module]
            out[site.key_a], out[site.key_b] = h.new_zeros(batch, r, n_in), h.new_zeros(batch, n_out, r)
        return out


def tokens_to_state(layout, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """A differentiable, batched LoraLayout.detokenize: (B, T, H, W) -> {key: (B, *shape)}.

    Lets the functional objective train the token heads (conv, basis) too."""
    batch, w = tokens.shape[0], layout.chunk
    state, t = {}, 0
    for key, shape, r, n, c in zip(layout.keys, layout.shapes, layout.rows, layout.lengths, layout.n_chunks):
        tok = tokens[:, t : t + c, :r]  # (B, c, r, W)
        mean = tok[..., w].mean(-1)[..., None, None]  # (B, c, 1, 1)
        log_std = tok[..., w + 1].mean(-1)[..., None, None]
        vals = tok[..., :w] * log_std.exp() + mean  # (B, c, r, w)
        m = vals.permute(0, 2, 1, 3).reshape(batch, r, c * w)[:, :, :n]  # (B, r, n)
        state[key] = m if ".lora_A." in key else m.transpose(1, 2)
        t += c
    return state
