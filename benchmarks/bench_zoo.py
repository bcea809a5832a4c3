"""Zoo training speed on this machine: seconds per LoRA step, tokens per second, and the
projected time per task and per 7-task zoo, for the default base model.

    .venv/bin/python benchmarks/bench_zoo.py [--task arc_e] [--steps 8] [--batch-size 8] [--device cpu]

Prints figures only; nothing is asserted (speed targets live here, not in tests).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dnd.assets import load_base_model
from dnd.lora.attach import attach_lora
from dnd.lora.settings import LoraSettings
from dnd.lora.train import TrainSettings, train_lora
from dnd.tasks.registry import load_pools


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="arc_e")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--full-steps", type=int, default=150, help="steps of a real run, for the projection")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    model, tok = load_base_model(device=args.device)
    peft_model = attach_lora(model, LoraSettings())
    items = load_pools(args.task)[0]
    times: list[float] = []
    last = [time.perf_counter()]

    def on_step(step: int, loss: float) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    settings = TrainSettings(steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                             device=args.device, lr=1e-4)
    result = train_lora(peft_model, tok, items, settings, on_step=on_step, progress="bench")
    steady = times[1:] or times  # the first step pays for allocation
    sps = statistics.median(steady)
    print(f"task {args.task}, batch {args.batch_size}, max length {args.max_length}, device {args.device}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"seconds per step: median {sps:.2f} (min {min(steady):.2f}, max {max(steady):.2f}) over {len(steady)} steps")
    print(f"tokens per second: {result.tokens / result.wall_time_s:.0f}")
    print(f"projected per task ({args.full_steps} steps): {sps * args.full_steps / 60:.1f} min; "
          f"7-task zoo: {7 * sps * args.full_steps / 60:.0f} min")


if __name__ == "__main__":
    main()
