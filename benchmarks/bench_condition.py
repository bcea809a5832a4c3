"""Cost of the two condition kinds for the default CPU generator: one training step
(forward + backward, batch 8) and one generation forward, with the real layout of
SmolLM2-135M (1590 tokens of 8 x 194). Prints figures only.

    .venv/bin/python benchmarks/bench_condition.py
"""

from __future__ import annotations

import time

import torch

from dnd.generator.condition import ConditionEncoder, ConditionSettings
from dnd.generator.config import DecoderSettings
from dnd.generator.decoder import HyperConvDecoder

TOKENS = (1590, 8, 194)  # SmolLM2-135M, r 8, all linear projections (see test_tokenizer)


def main() -> None:
    d = DecoderSettings()
    for kind in ("pooled", "tokens"):
        cond_shape = ConditionEncoder(ConditionSettings(kind=kind)).cond_shape()
        dec = HyperConvDecoder(cond_shape, TOKENS, d.hidden_channels, d.kernel, d.layer_kernel, d.n_basis)
        opt = torch.optim.AdamW(dec.parameters())
        x = torch.randn(8, *cond_shape)
        steps = []
        for _ in range(4):
            t = time.perf_counter()
            dec(x).pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
            steps.append(time.perf_counter() - t)
        with torch.no_grad():
            t = time.perf_counter()
            dec(x[:1])
            gen = time.perf_counter() - t
        stage_params = sum(p.numel() for n, p in dec.named_parameters() if n.startswith("stages"))
        print(f"{kind:<7} condition {cond_shape}: train step (batch 8) {min(steps[1:]):.2f} s, "
              f"generation forward {gen:.3f} s, cascade parameters {stage_params:,}, threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
