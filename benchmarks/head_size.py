"""Parameter count of the compact shared head for the default base model, by width.

    .venv/bin/python benchmarks/head_size.py [--widths 32,64,96]

The head's size is width x r x (in + out) summed over module types (7 for SmolLM2's all
linear targets) plus the condition path; it does not grow with the number of layers.
"""

from __future__ import annotations

import argparse

from dnd.assets import load_base_model
from dnd.generator.condition import ConditionEncoder, ConditionSettings
from dnd.generator.config import DecoderSettings, HeadSettings
from dnd.generator.heads import SharedLoraHead
from dnd.generator.tokenizer import LoraLayout
from dnd.lora.settings import LoraSettings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", default="32,64,96")
    args = ap.parse_args()
    model, _ = load_base_model()
    layout = LoraLayout.from_base_model(model, LoraSettings())
    encoder = ConditionEncoder(ConditionSettings())
    dec = DecoderSettings()
    for width in (int(w) for w in args.widths.split(",")):
        h = HeadSettings(width=width)
        net = SharedLoraHead(encoder.cond_shape(), layout.keys, layout.shapes, dec.hidden_channels, dec.kernel,
                             dec.layer_kernel, width=h.width, embed_dim=h.embed_dim, cond_dim=h.cond_dim,
                             desc_dim=encoder.dim)
        total = sum(p.numel() for p in net.parameters())
        cascade = sum(p.numel() for p in net.stages.parameters())
        print(f"width {width}{' (default)' if width == HeadSettings().width else ''}: {total:,} parameters "
              f"(hyper-conv cascade {cascade:,}); {len(net.sites)} LoRA sites, {len(net.modules_)} module types")


if __name__ == "__main__":
    main()
