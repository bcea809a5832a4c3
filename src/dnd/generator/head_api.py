"""The heads' common interface for training: a Batch in, a HeadOutput out.

Two kinds of network write a LoRA:
    SharedHead  the compact shared head (heads.SharedLoraHead): A and B directly, optionally
                as a delta on a reference adapter (residual.py), concatenated by rank
    TokenHead   the decoder's token output (decoder.HyperConvDecoder, "conv" or "basis"):
                normalized LoRA tokens, turned into A and B only when an objective asks
Objectives (objectives/) read whichever form they need from the HeadOutput.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dnd.lora.combine import concat_ranks
from dnd.generator.heads import tokens_to_state


@dataclass
class HeadOutput:
    """The generated LoRA of each condition: `tokens` (B, T, r, w + 2) for a token head
    (None for the shared head); `state()` -> {PEFT key: (B, *shape)}, computed once."""

    tokens: torch.Tensor | None = None
    _state: dict | None = None
    _to_state: object = field(default=None, repr=False)

    def state(self) -> dict[str, torch.Tensor]:
        if self._state is None:
            self._state = self._to_state(self.tokens)
        return self._state


class SharedHead:
    """heads.SharedLoraHead behind the interface; `reference` = (state, LoraSettings of it,
    LoraSettings of the delta) makes the output the written adapter: reference + delta."""

    def __init__(self, net: nn.Module, reads_desc: bool, reference: tuple | None = None, reads_minilm: bool = True):
        self.net, self.reads_desc, self.reference, self.reads_minilm = net, reads_desc, reference, reads_minilm

    def __call__(self, batch) -> HeadOutput:
        kw = {}
        if self.reads_desc:
            kw = dict(desc=batch.desc, has_prompts=batch.has_p, has_desc=batch.has_d)
        if batch.model is not None:
            kw["model_cond"] = batch.model
        state = self.net(batch.cond if self.reads_minilm else None, **kw)  # {key: (B, *shape)}
        if self.reference is not None:
            ref_state, ref_lora, delta_lora = self.reference
            state = concat_ranks(ref_state, ref_lora, state, delta_lora)
        return HeadOutput(_state=state)


class TokenHead:
    """decoder.HyperConvDecoder behind the interface: tokens, and A / B on demand."""

    def __init__(self, net: nn.Module, layout):
        self.net, self.layout = net, layout

    def __call__(self, batch) -> HeadOutput:
        return HeadOutput(tokens=self.net(batch.cond), _to_state=lambda t: tokens_to_state(self.layout, t))
