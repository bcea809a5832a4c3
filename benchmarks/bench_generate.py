"""Prompts -> adapter on disk: wall time (median and spread), where the time goes (sampling,
encode, decode, write), peak memory, and how far the bf16 encoder moves the condition.

    .venv/bin/python benchmarks/bench_generate.py --generator GEN_DIR [--task rte] [--n 128] [--repeats 10]
    .venv/bin/python benchmarks/bench_generate.py --generator GEN_DIR --given 256   # a 256-prompt file
    .venv/bin/python benchmarks/bench_generate.py --generator GEN_DIR --encoder-max-tokens 64   # what-if

Each repeat is the whole of `Generator.generate` + `save_adapter` (what `dnd generate` does
after loading), with a different sampling seed. `--given` hands the generator more prompts
than it uses (it samples N first and encodes only those). Both encoder precisions are timed
in the same process: float32, and bfloat16 (the default where the CPU computes bf16
natively); the cosine between their conditions is over all given prompts. Target: 0.5 s on
2 CPU cores, 20 ms on a GPU. Prints figures only.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from dnd.lora.attach import bf16_is_fast
from dnd.generator.generate import Generator
from dnd.tasks.registry import load_pools


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return (f"median {statistics.median(values):.3f} s, IQR {q[0]:.3f}-{q[2]:.3f} s, "
            f"min {min(values):.3f} s, max {max(values):.3f} s")


def measure(gen: Generator, prompts: list[str], repeats: int, bf16: bool) -> dict[str, list[float]]:
    gen.bf16 = bf16
    gen.generate(prompts[:8])  # loads (or converts) this encoder; not part of the per-call time
    rows: dict[str, list[float]] = {k: [] for k in ("total", "sample", "encode", "decode", "write")}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            timings: dict = {}
            t = time.perf_counter()
            state = gen.generate(prompts, seed=i, timings=timings)
            t_w = time.perf_counter()
            gen.save_adapter(state, Path(tmp) / f"a{i}")
            end = time.perf_counter()
            rows["total"].append(end - t)
            rows["sample"].append(timings.get("sample_s", 0.0))
            rows["encode"].append(timings["encode_s"])
            rows["decode"].append(timings["decode_s"])
            rows["write"].append(end - t_w)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", required=True)
    ap.add_argument("--task", default="rte", help="whose train-pool prompts condition the generator")
    ap.add_argument("--n", type=int, default=None, help="prompts used (default: the generator's N)")
    ap.add_argument("--given", type=int, default=None, help="prompts handed over (default: --n)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--encoder-max-tokens", type=int, default=None,
                    help="what-if: encode with this word-piece limit instead of the generator's own "
                         "(cosines are then against the generator's own float32 condition)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    gen = Generator.from_pretrained(args.generator, device=args.device)
    n = args.n or gen.config.condition.n_prompts
    pool = [it.prompt for it in load_pools(args.task)[0]]
    prompts = pool[: args.given or n]
    load_s = time.perf_counter() - t0
    own = gen.encoder.features(prompts)  # (n, H, W) the generator's own float32 condition features
    if args.encoder_max_tokens:
        gen.encoder.settings = replace(gen.encoder.settings, encoder_max_tokens=args.encoder_max_tokens)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    print(f"generator {args.generator}: {gen.saved['parameters']:,} parameters, trained {gen.saved['train_time_s']} s "
          f"on {', '.join(gen.saved['tasks'])}")
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {len(prompts)} {args.task} prompts given, "
          f"N = {gen.config.condition.n_prompts} used, {args.repeats} repeats (one-off load {load_s:.1f} s)")
    precisions = [False, True] if bf16_is_fast(args.device) else [False]
    for bf16 in precisions:
        rows = measure(gen, prompts, args.repeats, bf16)
        med = {k: statistics.median(v) for k, v in rows.items()}
        print(f"[encoder {'bf16' if bf16 else 'fp32'}] prompts -> adapter on disk: {spread(rows['total'])}")
        print(f"  sampling {1000 * med['sample']:.2f} ms | encode {med['encode']:.3f} s | "
              f"decode + detokenize {med['decode']:.3f} s | write {med['write']:.3f} s (medians)")
    limit = f", {args.encoder_max_tokens} word pieces" if args.encoder_max_tokens else ""
    for bf16 in precisions:
        feats = gen.encoder.features(prompts, bf16=bf16)
        if not bf16 and not args.encoder_max_tokens:
            continue  # identical to the reference
        cos = torch.nn.functional.cosine_similarity(own.flatten(1), feats.flatten(1))  # (n,)
        cond_cos = torch.nn.functional.cosine_similarity(own.flatten(), feats.flatten(), dim=0)
        print(f"{'bf16' if bf16 else 'fp32'} encoder{limit} vs the generator's own fp32 condition over "
              f"{len(prompts)} prompts: per-prompt cosine min {cos.min():.5f}, mean {cos.mean():.5f}; "
              f"whole condition {cond_cos:.6f} (threshold 0.99)")
    print(f"default precision here: {'bf16' if bf16_is_fast(args.device) else 'fp32'} encoder")
    print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.device.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
