"""LoRA training on the CPU: today's fp32 path against the fast bf16 path, in one run.

    .venv/bin/python benchmarks/bench_lora_precision.py [--task arc_e] [--steps 40] [--batch-size 8] [--parallel]

Both paths train the default base model's LoRA from the same initialisation on the same
task's train pool with the same seed and learning-rate schedule. Printed per path: median
seconds per step (after the first), items per second, the mean training loss over the last
quarter of the run, and the answer-token loss of the trained adapter on the same 64 held-out
train-pool items, computed the same way for both (fp32 weights, plain model loss). Speed
targets live here, not in the tests.

--parallel runs the two paths at the same time in two processes of one thread each: on a
machine shared with other jobs both then see the same load, so the ratio stays fair.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time

import torch

from dnd.assets import load_base_model
from dnd.lora.attach import attach_lora, lora_state_dict
from dnd.lora.settings import LoraSettings
from dnd.lora.swap import AdapterModel
from dnd.lora.train import TrainSettings, collate, encode_example, train_lora
from dnd.tasks.registry import load_pools


@torch.no_grad()
def heldout_loss(state: dict, items, base_model: str, max_length: int) -> float:
    """fp32 answer-token loss of a LoRA state on `items` (batch of 8, right-padded)."""
    runner = AdapterModel(base_model, LoraSettings()).use(state)
    tok = runner.tokenizer
    examples = [encode_example(tok, it, max_length) for it in items]
    total, count = 0.0, 0
    for i in range(0, len(examples), 8):
        batch = collate(examples[i : i + 8], tok.pad_token_id)
        n = int((batch["labels"][:, 1:] != -100).sum())
        total += float(runner.model(**batch).loss) * n
        count += n
    return total / count


def run(precision: str, items, args) -> dict:
    if args.parallel:
        torch.set_num_threads(1)
    model, tok = load_base_model(args.base_model)
    peft_model = attach_lora(model, LoraSettings(), seed=0)
    times, last = [], [time.perf_counter()]

    def on_step(step: int, loss: float) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    settings = TrainSettings(steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                             lr=args.lr, warmup_steps=max(1, args.steps // 10), precision=precision)
    result = train_lora(peft_model, tok, items, settings, on_step=on_step)
    steady = times[1:] or times
    tail = result.losses[-max(1, args.steps // 4):]
    return {"precision": precision, "s_per_step": statistics.median(steady), "min": min(steady), "max": max(steady),
            "items_per_s": args.steps * args.batch_size / result.wall_time_s, "train_loss_tail": sum(tail) / len(tail),
            "heldout_loss": heldout_loss(lora_state_dict(peft_model), args.heldout, args.base_model, args.max_length)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="arc_e")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--base-model", default="smollm2-135m-instruct")
    ap.add_argument("--parallel", action="store_true", help="both paths at once, one thread each")
    args = ap.parse_args()

    train = load_pools(args.task)[0]
    args.heldout, items = train[:64], train[64:]
    print(f"task {args.task}: {len(items)} training items, {len(args.heldout)} held-out; {args.steps} steps of "
          f"batch {args.batch_size}, lr {args.lr}, torch threads {1 if args.parallel else torch.get_num_threads()}"
          f"{', both paths in parallel' if args.parallel else ''}", flush=True)
    if args.parallel:
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            rows = pool.starmap(run, [(p, items, args) for p in ("fp32", "bf16")])
    else:
        rows = [run(p, items, args) for p in ("fp32", "bf16")]
    for r in rows:
        print(f"{r['precision']:>5}: {r['s_per_step']:.2f} s/step (min {r['min']:.2f}, max {r['max']:.2f}), "
              f"{r['items_per_s']:.2f} items/s, train loss (last quarter) {r['train_loss_tail']:.4f}, "
              f"held-out loss {r['heldout_loss']:.4f}")
    ref, fast = rows
    print(f"speed-up {fast['items_per_s'] / ref['items_per_s']:.2f}x; held-out loss "
          f"{100 * (fast['heldout_loss'] / ref['heldout_loss'] - 1):+.1f}%, train loss tail "
          f"{100 * (fast['train_loss_tail'] / ref['train_loss_tail'] - 1):+.1f}%")


if __name__ == "__main__":
    main()
