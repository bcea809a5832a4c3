"""What the model condition costs at generation: the base model reading N prompts.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_model_condition.py [--n 8,32]

Prints the base model's load time and, per N, the seconds `ModelReader.rows` takes for N
train-pool prompts of sst2 in bf16 autocast and in fp32 (the first call of each includes
its warm-up). Say in a quoted figure whether the machine was busy.
"""

from __future__ import annotations

import argparse
import time

import torch

from dnd.assets import load_base_model
from dnd.generator.model_condition import ModelReader, resolve_layers
from dnd.tasks.registry import load_pools


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="8,32")
    args = ap.parse_args()
    t = time.perf_counter()
    model, tok = load_base_model()
    print(f"base model load: {time.perf_counter() - t:.2f} s (threads {torch.get_num_threads()})")
    layers = resolve_layers((), model.config.num_hidden_layers)
    prompts = [it.prompt for it in load_pools("sst2")[0][:max(int(n) for n in args.n.split(","))]]
    for bf16 in (True, False):
        reader = ModelReader(model, tok, layers, "bench", max_length=128, bf16=bf16)
        for n in (int(x) for x in args.n.split(",")):
            t = time.perf_counter()
            reader.rows(prompts[:n], ("positive", "negative"))
            print(f"{'bf16' if bf16 else 'fp32'}  {n:>3} prompts: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
