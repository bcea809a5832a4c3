"""Log-likelihood scoring throughput (items/s) and accuracy, by strategy, on three tasks.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scoring_throughput.py [--tasks arc_e,boolq,sst2] [--n 60]

The base model (bf16 weights, one thread unless OMP_NUM_THREADS says otherwise, a LoRA of the
shipped generator's shape attached, as in `dnd benchmark`) scores the first N eval-pool items
of each task with:

    two-pass (11e448d)   the scorer before issue 18: a prompt pass, then one more pass over
                         every choice's tokens from the prompt's cache (read from git)
    packed               one pass per item: the choices packed side by side after the prompt
    packed + prefix      the same, with the prefix every item shares (chat template, task
                         instruction) run once and its cache reused: the default
    batched rows         every (prompt + choice) a row of a padded batch (the GPU strategy)

Each line gives items/s and accuracy; the accuracies of a task must agree within a point
(the packed strategies are exact up to float rounding; bf16 rounding differs by split).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from dnd.evaluation import scoring
from dnd.lora.settings import LoraSettings
from dnd.lora.swap import AdapterModel
from dnd.tasks.registry import load_pools

BEFORE = "11e448d"  # the commit whose scorer is the baseline


def old_scorer():
    """The scorer module as it was at BEFORE, or None outside a git checkout that has it."""
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(["git", "-C", str(root), "show", f"{BEFORE}:src/dnd/evaluation/scoring.py"],
                       capture_output=True, text=True)
    if r.returncode:
        return None
    path = Path(tempfile.mkdtemp()) / "scoring_before.py"
    # its prompt helpers have moved since (dnd.zoo.lora -> dnd.lora.prompt), unchanged
    path.write_text(r.stdout.replace("from dnd.zoo.lora import", "from dnd.lora.prompt import"))
    spec = importlib.util.spec_from_file_location("scoring_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def accuracy(items, scores) -> float:
    picks = [max(range(len(row)), key=lambda c: row[c][0] / row[c][1]) for row in scores]
    return sum(it.choices[p] == it.answer for it, p in zip(items, picks)) / len(items)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="arc_e,boolq,sst2")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    ap.add_argument("--strategies", default="two-pass,packed-prefix,packed,batched",
                    help="which to run, comma-separated (e.g. two-pass,packed-prefix for the default against the old scorer)")
    args = ap.parse_args()
    wanted = set(args.strategies.split(","))
    runner = AdapterModel("smollm2-135m-instruct", LoraSettings(r=16, lora_alpha=32), precision=args.precision)
    model, tok = runner.use(None).model, runner.tokenizer
    before = old_scorer() if "two-pass" in wanted else None
    strategies = {
        "packed + prefix": lambda items: scoring.choice_logprobs(model, tok, items, share_prompt=True),
        "packed": lambda items: scoring.choice_logprobs(model, tok, items, share_prompt=True, share_prefix=False),
        "batched rows": lambda items: scoring.choice_logprobs(model, tok, items, share_prompt=False),
    }
    keys = {"packed + prefix": "packed-prefix", "packed": "packed", "batched rows": "batched"}
    strategies = {name: run for name, run in strategies.items() if keys[name] in wanted}
    if before is not None:
        strategies = {f"two-pass ({BEFORE})": lambda items: before.choice_logprobs(model, tok, items, share_prompt=True),
                      **strategies}
    elif "two-pass" in wanted:
        print(f"(no git history with {BEFORE}: the two-pass baseline is left out)")
    print(f"{torch.get_num_threads()} thread(s), {args.precision} base weights, first {args.n} eval-pool items per task")
    print(f"{'task':<8}{'strategy':<22}{'items/s':>9}{'accuracy %':>12}{'speed-up':>10}", flush=True)
    for task in args.tasks.split(","):
        items = load_pools(task)[1][: args.n]
        first = None
        for name, run in strategies.items():
            start = time.perf_counter()
            scores = run(items)
            rate = len(items) / (time.perf_counter() - start)
            first = first or rate
            print(f"{task:<8}{name:<22}{rate:>9.2f}{100 * accuracy(items, scores):>12.1f}{rate / first:>9.2f}x",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
