"""Scoring (`dnd eval`) in fp32 against bf16: accuracy and items per second on three tasks.

    .venv/bin/python benchmarks/bench_scoring_precision.py [--tasks arc_e,boolq,sst2] [--n 200]

The base model scores the first N eval-pool items of each task with the default protocol
(log-likelihood), once with fp32 weights and once with bf16 base weights; the printed table
gives both accuracies, their difference in points, and the speed-up. Where the difference
stays within 1 point on every task, bf16 is safe to use for scoring.
"""

from __future__ import annotations

import argparse
import time

import torch

from dnd.evaluation.scoring import evaluate_items
from dnd.lora.settings import LoraSettings
from dnd.lora.swap import AdapterModel
from dnd.tasks.registry import load_pools


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="arc_e,boolq,sst2")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--base-model", default="smollm2-135m-instruct")
    args = ap.parse_args()
    print(f"torch threads {torch.get_num_threads()}; {args.n} eval-pool items per task, log-likelihood", flush=True)
    print(f"{'task':<10}{'fp32 %':>8}{'bf16 %':>8}{'diff':>7}{'fp32 it/s':>11}{'bf16 it/s':>11}{'speed-up':>10}"
          f"{'same pick':>11}", flush=True)
    runners = {p: AdapterModel(args.base_model, LoraSettings(), precision=p).use(None) for p in ("fp32", "bf16")}
    for task in args.tasks.split(","):
        items = load_pools(task)[1][: args.n]
        res, speed = {}, {}
        for p, runner in runners.items():
            start = time.perf_counter()
            res[p] = evaluate_items(runner.model, runner.tokenizer, items, "loglik")
            speed[p] = len(items) / (time.perf_counter() - start)
        same = sum(a["prediction"] == b["prediction"] for a, b in zip(res["fp32"].predictions, res["bf16"].predictions))
        a32, a16 = 100 * res["fp32"].accuracy, 100 * res["bf16"].accuracy
        print(f"{task:<10}{a32:>8.1f}{a16:>8.1f}{a16 - a32:>+7.1f}{speed['fp32']:>11.2f}{speed['bf16']:>11.2f}"
              f"{speed['bf16'] / speed['fp32']:>9.2f}x{same / len(items):>10.0%}", flush=True)


if __name__ == "__main__":
    main()
