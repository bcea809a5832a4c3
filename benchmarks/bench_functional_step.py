"""What each trick buys in the functional objective's step, on the real base model.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_functional_step.py \
        [--conditions 8] [--items 2] [--max-length 128] [--top-layers 2,4,8] [--repeats 3]

One step of the functional objective is, per condition, a forward and backward pass of the
base model with that condition's generated LoRA on its labeled items (objectives/
functional.py). Timed here without the head (whose cost is small beside it), with random
adapter weights of the default shape (r 8 delta over an r 8 reference: r 16 written), on
train-pool items of `wide` tasks:

    fp32 full       fp32 weights, right-padded, logits at every position (the reference path)
    bf16 full       bf16 frozen weights, left-padded, LM head on the answer positions only
    top K cached    bf16, a delta on the top K layers only, the layers below run once per
                    item and cached (objectives/cached_lower.py); also the one-off cost of
                    the cache per item
    top K grouped   the same, every condition's items in ONE forward pass, each row through
                    its own condition's adapter (CachedLowerLoss.grouped, row_lora.py): what
                    the objectives run when the loss is cached
    ... at --max-length 64 and 128 (shorter items)

Prints seconds per step (median of --repeats) and the speed-up over fp32 full.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def _state(layout, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.randn(shape, generator=g) * (0.02 if ".lora_A." in k else 1e-3))
            for k, shape in zip(layout.keys, layout.shapes)}


def step_time(loss, state: dict, groups: list, repeats: int) -> float:
    """Median seconds of one step: forward + backward for every condition's items."""
    times = []
    for _ in range(repeats + 1):  # the first one warms up (kernels, allocator)
        t = time.perf_counter()
        for examples in groups:
            leaves = {k: v.clone().requires_grad_() for k, v in state.items() if k in loss.names}
            loss(leaves, examples).backward()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def grouped_step_time(loss, state: dict, groups: list, repeats: int) -> float:
    """Median seconds of the grouped step: all conditions' items in one forward + backward."""
    batched = {k: v[None].expand(len(groups), *v.shape) for k, v in state.items() if k in loss.names}
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        leaves = {k: v.clone().requires_grad_() for k, v in batched.items()}
        loss.grouped(leaves, list(enumerate(groups))).mean().backward()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conditions", type=int, default=8)
    ap.add_argument("--items", type=int, default=2, help="labeled items per condition")
    ap.add_argument("--max-length", default="64,128", help="tokens per item, comma-separated")
    ap.add_argument("--top-layers", default="2,4,8")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-fp32", action="store_true")
    ap.add_argument("--skip-full", action="store_true", help="only the top-K variants")
    ap.add_argument("--top-precision", choices=("bf16", "fp32"), default="bf16",
                    help="frozen weights of the top-K variants (fp32 where the CPU lacks native bf16)")
    args = ap.parse_args()

    import os

    from dnd.assets import load_base_model
    from dnd.generator.objectives.cached_lower import CachedLowerLoss
    from dnd.generator.objectives.functional import FunctionalLoss
    from dnd.generator.tokenizer import LoraLayout
    from dnd.lora.settings import LoraSettings
    from dnd.tasks.registry import load_pools, pick_tasks

    torch.manual_seed(0)
    lora = LoraSettings(r=16, lora_alpha=32)  # the written adapter: reference r 8 + delta r 8
    tasks = pick_tasks("wide", args.conditions)
    items = [load_pools(t)[0][: args.items] for t in tasks]
    print(f"functional step: {args.conditions} conditions x {args.items} items, torch threads "
          f"{torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
          f"load average {os.getloadavg()[0]:.2f}")
    base = None
    for max_length in (int(x) for x in args.max_length.split(",")):
        variants = [] if args.skip_fp32 or args.skip_full else [("fp32 full", "fp32", 0)]
        variants += [] if args.skip_full else [("bf16 full", "bf16", 0)]
        variants += [(f"top {k} {args.top_precision}", args.top_precision, int(k)) for k in args.top_layers.split(",")]
        for name, precision, top in variants:
            model, tok = load_base_model()  # a fresh copy: each loss wraps the model in its own LoRA
            layout = LoraLayout.from_base_model(model, lora)
            state = _state(layout)
            extra = ""
            if top:
                loss = CachedLowerLoss(model, tok, lora, top, state, max_length=max_length, precision=precision)
                t = time.perf_counter()
                groups = []
                for g in items:
                    examples = [_encode(tok, it, max_length) for it in g]
                    groups.append([(ids, lab, h) for (ids, lab), h in zip(examples, loss._lower(examples))])
                per_item = (time.perf_counter() - t) / sum(len(g) for g in items)
                extra = f"; cache {per_item * 1000:.0f} ms per item, once"
            else:
                loss = FunctionalLoss(model, tok, lora, max_length=max_length, precision=precision)
                groups = [loss.encode(g) for g in items]
            seconds = step_time(loss, state, groups, args.repeats)
            base = seconds if name == "fp32 full" and base is None else base
            speed = f" ({base / seconds:.1f}x fp32 full at the first length)" if base else ""
            tokens = sum(len(ids) for g in groups for ids, *_ in g)
            print(f"max_length {max_length:4d}  {name:14s} {seconds:6.2f} s/step, {tokens} tokens{speed}{extra}",
                  flush=True)
            if top:
                seconds = grouped_step_time(loss, state, groups, args.repeats)
                speed = f" ({base / seconds:.1f}x fp32 full at the first length)" if base else ""
                print(f"max_length {max_length:4d}  {f'{name} grouped':14s} {seconds:6.2f} s/step{speed}", flush=True)


def _encode(tok, item, max_length):
    from dnd.lora.train import encode_example

    return encode_example(tok, item, max_length)


if __name__ == "__main__":
    main()
