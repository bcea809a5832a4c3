"""Prompts -> adapter on disk: wall time (median and spread), where the time goes, and peak
memory, for a trained generator; plus the generator's size and training time.

    .venv/bin/python benchmarks/bench_generate.py --generator GEN_DIR [--task rte] [--n 128] [--repeats 10]

Target: at most 1 s on 2 CPU cores for N = 128 prompts. Prints figures only.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dnd.generator.generate import Generator
from dnd.tasks.registry import load_pools


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", required=True)
    ap.add_argument("--task", default="rte", help="whose train-pool prompts condition the generator")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    t0 = time.perf_counter()
    gen = Generator.from_pretrained(args.generator, device=args.device)
    prompts = [it.prompt for it in load_pools(args.task)[0][: args.n]]
    gen.generate(prompts[:4])  # loads the encoder; not part of the per-call time
    load_s = time.perf_counter() - t0
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    totals, enc, dec, write = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            timings: dict = {}
            t = time.perf_counter()
            state = gen.generate(prompts, seed=i, timings=timings)
            t_w = time.perf_counter()
            gen.save_adapter(state, Path(tmp) / f"a{i}")
            end = time.perf_counter()
            totals.append(end - t)
            enc.append(timings["encode_s"])
            dec.append(timings["decode_s"])
            write.append(end - t_w)
    q = statistics.quantiles(totals, n=4) if len(totals) > 1 else [totals[0]] * 3
    print(f"generator {args.generator}: {gen.saved['parameters']:,} parameters, trained {gen.saved['train_time_s']} s "
          f"on {', '.join(gen.saved['tasks'])}")
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, N = {len(prompts)} prompts, "
          f"{args.repeats} repeats (one-off load {load_s:.1f} s)")
    print(f"prompts -> adapter on disk: median {statistics.median(totals):.3f} s, "
          f"IQR {q[0]:.3f}-{q[2]:.3f} s, min {min(totals):.3f} s, max {max(totals):.3f} s")
    print(f"  encode {statistics.median(enc):.3f} s | decode + detokenize {statistics.median(dec):.3f} s | "
          f"write {statistics.median(write):.3f} s")
    print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.device.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
