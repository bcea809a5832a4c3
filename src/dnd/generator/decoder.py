"""The cascaded hyper-convolutional decoder: condition tensor -> LoRA tokens.

The condition of one example is a (C, H, W) tensor: C = N prompts; (H, W) = the encoder's
output per prompt, either a pooled 384-d embedding folded to (12, 32) or token-level hidden
states (L, 384). Stages reshape it step by step toward the token tensor (T, r, w + 2):

    (N, H0, W0) -> (C1, H1, W1) -> ... -> (T, r, w + 2)

Each stage (the paper's block, scaled down for CPUs):
    layer norm over (H, W);
    branch 1: conv with W as channels over (C, H), then conv with H as channels over (C, W');
    branch 2: the same two convs in the opposite order;
    mean of the branches + a learned bias, GELU;
    layer-wise conv: C as channels over (H', W') -> C'.
The last stage's layer-wise conv has a 1x1 kernel (T is in the thousands) and the output
adds a learned per-cell bias, initialised to the zoo's mean token tensor, so the cascade
learns the condition-dependent part.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class HyperConvStage(nn.Module):
    """(B, c_in, h_in, w_in) -> (B, c_out, h_out, w_out)."""

    def __init__(self, c_in: int, c_out: int, h_in: int, h_out: int, w_in: int, w_out: int,
                 kernel: int = 3, layer_kernel: int = 3):
        super().__init__()
        k, p = kernel, kernel // 2
        self.norm = nn.LayerNorm([h_in, w_in])
        # branch 1: width first, then height
        self.w1 = nn.Conv2d(w_in, w_out, k, padding=p)  # over (C, H)
        self.h1 = nn.Conv2d(h_in, h_out, k, padding=p)  # over (C, W')
        # branch 2: height first, then width
        self.h2 = nn.Conv2d(h_in, h_out, k, padding=p)  # over (C, W)
        self.w2 = nn.Conv2d(w_in, w_out, k, padding=p)  # over (C, H')
        self.bias = nn.Parameter(torch.zeros(1, 1, h_out, w_out))
        self.layer_conv = nn.Conv2d(c_in, c_out, layer_kernel, padding=layer_kernel // 2)

    @staticmethod
    def _axis_conv(conv: nn.Conv2d, x: torch.Tensor, axis: int) -> torch.Tensor:
        """Apply `conv` with dimension `axis` (2 = H, 3 = W) of (B, C, H, W) as its channels."""
        if axis == 3:
            return conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (B, W, C, H) -> (B, C, H, W')
        return conv(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)  # (B, H, C, W) -> (B, C, H', W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)  # (B, C, H, W)
        a = self._axis_conv(self.h1, self._axis_conv(self.w1, x, 3), 2)  # (B, C, H', W')
        b = self._axis_conv(self.w2, self._axis_conv(self.h2, x, 2), 3)  # (B, C, H', W')
        x = nn.functional.gelu((a + b) / 2 + self.bias)
        return self.layer_conv(x)  # (B, C', H', W')


def stage_shapes(cond_shape: tuple[int, int, int], token_shape: tuple[int, int, int],
                 hidden_channels: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(C, H, W) after each stage: channels from `hidden_channels`, then T; H and W move
    geometrically from the condition's to the token's."""
    (c0, h0, w0), (t, ht, wt) = cond_shape, token_shape
    n = len(hidden_channels) + 1
    shapes = [(c0, h0, w0)]
    for i in range(1, n + 1):
        f = i / n
        h = round(math.exp((1 - f) * math.log(h0) + f * math.log(ht)))
        w = round(math.exp((1 - f) * math.log(w0) + f * math.log(wt)))
        c = hidden_channels[i - 1] if i < n else t
        shapes.append((c, h, w))
    return shapes


class HyperConvDecoder(nn.Module):
    """Condition (B, N, H0, W0) -> tokens (B, T, r, w + 2). Built from flat arguments.

    n_basis = 0: the paper's layout, the last stage's layer-wise conv emits all T tokens.
    n_basis > 0: the stages keep the condition's (H0, W0) and end in hidden_channels[-1]
    channels; a head pools them into n_basis coefficients of learned basis token tensors
    (initialised to the zoo's principal directions). Measured on the commonsense zoo, the
    conv output can only reach a rank-C slice of each token matrix and fits the training
    LoRAs poorly (cosine 0.16 to the task's own lora_B); see docs/generator.md.
    """

    def __init__(self, cond_shape: tuple[int, int, int], token_shape: tuple[int, int, int],
                 hidden_channels: tuple[int, ...] = (64, 64), kernel: int = 3, layer_kernel: int = 3,
                 n_basis: int = 0):
        super().__init__()
        hidden = tuple(hidden_channels)
        if n_basis:
            c0, h0, w0 = cond_shape
            shapes = stage_shapes(tuple(cond_shape), (hidden[-1], h0, w0), hidden[:-1])
        else:
            shapes = stage_shapes(tuple(cond_shape), tuple(token_shape), hidden)
        last = len(shapes) - 2
        self.stages = nn.ModuleList(
            HyperConvStage(ci, co, hi, ho, wi, wo, kernel=kernel,
                           layer_kernel=1 if (i == last and not n_basis) else layer_kernel)
            for i, ((ci, hi, wi), (co, ho, wo)) in enumerate(zip(shapes[:-1], shapes[1:]))
        )
        self.n_basis = n_basis
        if n_basis:
            self.coef = nn.Linear(shapes[-1][0], n_basis)
            self.basis = nn.Parameter(torch.zeros(n_basis, *token_shape))  # (K, T, r, w + 2)
        self.out_bias = nn.Parameter(torch.zeros(*token_shape))  # (T, r, w + 2)

    def init_output_bias(self, mean_tokens: torch.Tensor) -> None:
        with torch.no_grad():
            self.out_bias.copy_(mean_tokens)

    def init_basis(self, directions: torch.Tensor) -> None:
        """directions: (K, T, r, w + 2), e.g. the top principal directions of the zoo."""
        with torch.no_grad():
            self.basis.zero_()
            self.basis[: directions.shape[0]].copy_(directions)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        x = cond  # (B, N, H0, W0)
        for stage in self.stages:
            x = stage(x)
        if not self.n_basis:
            return x + self.out_bias  # (B, T, r, w + 2)
        coef = self.coef(x.mean(dim=(2, 3)))  # (B, K)
        return self.out_bias + torch.einsum("bk,k...->b...", coef, self.basis)  # (B, T, r, w + 2)
