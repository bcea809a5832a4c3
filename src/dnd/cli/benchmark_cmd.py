"""`dnd benchmark`: generators against every baseline on tasks none of our models trained on."""

from __future__ import annotations

import argparse
import shlex

from dnd.cli.args import positive_float, positive_int, suite_tasks
from dnd.errors import DndError


CALIBRATION_RULES = ("batch", "domain")  # dnd.evaluation.calibration.RULES (a test keeps them equal): no torch at start-up
# dnd.evaluation.unseen.METHODS (a test keeps them equal): building the parser must not import torch
METHODS = ("base", "training_loras", "average", "nearest", "multitask", "icl", "full_shot", "dnd", "controls",
           "random_text", "calibrated")


def register(sub) -> None:
    p = sub.add_parser(
        "benchmark",
        help="the unseen-task benchmark: DnD generators vs every baseline on never-trained-on tasks",
        description="For each task of --suite (e.g. unseen: BIG-bench, evaluation only; heldout: the never-trained "
        "suite built from PyPI data, for machines without BIG-bench; or wide_val for model choices): score the base model, a sample of the zoo's LoRAs (mean), their average, the nearest "
        "one by prompt embedding, the multi-task LoRA, 1-shot and k-shot ICL, a full-shot LoRA trained on the "
        "task's train pool (upper reference), every --generator conditioned on the task's unlabeled prompts, "
        "two controls (the first generator conditioned on another task's prompts, and on random text), "
        "and label-free calibration from the same unlabeled prompts (the base model, the multi-task LoRA and every "
        "generator), all on the same eval-pool items by log-likelihood; paired differences with intervals. Writes OUT/SUITE.{json,md,png}. Resumable.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--suite", default="unseen")
    p.add_argument("--out", required=True, metavar="RESULTS_DIR")
    p.add_argument("--zoo", required=True, metavar="ZOO_DIR", help="training LoRAs and the multi-task LoRA")
    p.add_argument("--generator", action="append", default=[], metavar="NAME=GEN_DIR",
                   help="a generator to score (repeatable); the first also gets the controls")
    p.add_argument("--multitask", default="wide", help="name of the zoo's multi-task LoRA")
    p.add_argument("--tasks", default="", help="only these tasks of the suite (default: --max-tasks of them)")
    p.add_argument("--max-tasks", type=positive_int, default=None,
                   help="score this many tasks, taken round-robin over the suite's domains")
    p.add_argument("--limit", type=positive_int, default=100, help="scored items per task (eval-pool order)")
    p.add_argument("--methods", default="all", help="comma-separated subset of: all, " + ", ".join(METHODS))
    p.add_argument("--nearest-among", default=None, metavar="TASK_SET",
                   help="retrieve the nearest LoRA among every task of this set (e.g. wide), not only the zoo's: "
                        "the zoo then needs only the LoRAs retrieved (scripts/nearest_zoo.sh)")
    p.add_argument("--sample-loras", type=positive_int, default=4, help="zoo LoRAs behind the training-LoRA mean")
    p.add_argument("--shots", type=positive_int, default=4, help="k of k-shot ICL (cut to fit --icl-context)")
    p.add_argument("--icl-context", type=positive_int, default=1024)
    p.add_argument("--full-shot-steps", type=positive_int, default=40)
    p.add_argument("--full-shot-lr", type=positive_float, default=3e-4)
    p.add_argument("--full-shot-tasks", type=positive_int, default=None,
                   help="train full-shot LoRAs for only the first N picked tasks (the costliest reference)")
    p.add_argument("--protocol", choices=("loglik", "generate"), default="loglik",
                   help="loglik: the choice with the highest log-likelihood (OUT/SUITE.*); generate: greedy answers, "
                        "exact match, open-answer tasks included, no calibration (OUT/SUITE-generate.*)")
    p.add_argument("--calibration", choices=CALIBRATION_RULES, default="batch",
                   help="rule of the calibrated methods (calibrated_domain always uses the domain rule)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="base model weights while scoring, the same for every method (bf16: faster on CPUs with "
                        "AMX; docs/benchmarks.md measures its effect)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args) -> int:
    from dataclasses import replace
    from pathlib import Path

    from dnd.artifacts import check_output
    from dnd.evaluation.unseen import BenchmarkSettings, run_benchmark
    from dnd.tasks.registry import SUITES

    tasks = suite_tasks(args.suite, args.tasks)
    gens = []
    for g in args.generator:
        name, sep, path = g.partition("=")
        if not sep or not name or not path:
            raise DndError(f"--generator {g!r}: expected NAME=GEN_DIR")
        if not Path(path).is_dir():
            raise DndError(f"--generator {g}: {path} is not a directory")
        gens.append((name, path))
    methods = METHODS if args.methods == "all" else tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise DndError(f"--methods {args.methods!r}: unknown {unknown[0] if unknown else '(empty)'}")
    if {"dnd", "controls", "random_text"} & set(methods) and not gens:
        raise DndError("--generator: needed for the dnd, controls and random_text methods")
    if not Path(args.zoo, "manifest.json").exists():
        raise DndError(f"--zoo {args.zoo}: not a zoo (no manifest.json)")
    if args.nearest_among is not None and args.nearest_among not in SUITES:
        raise DndError(f"--nearest-among {args.nearest_among}: not a task set (known: {', '.join(SUITES)})")
    check_output(args.out, "--out", "results")
    s = BenchmarkSettings(suite=args.suite, out=args.out, zoo=args.zoo, generators=tuple(gens),
                          multitask=args.multitask, tasks=tasks, max_tasks=args.max_tasks, limit=args.limit,
                          methods=methods, sample_loras=args.sample_loras, shots=args.shots,
                          icl_context=args.icl_context, precision=args.precision,
                          full_shot_tasks=args.full_shot_tasks, calibration=args.calibration,
                          protocol=args.protocol, nearest_among=args.nearest_among,
                          device=args.device)
    s = replace(s, full_shot=replace(s.full_shot, steps=args.full_shot_steps, lr=args.full_shot_lr,
                                     device=args.device))
    command = "dnd " + " ".join(shlex.quote(a) for a in args.argv)
    results = run_benchmark(s, command=command)
    print(f"wrote {args.out}/{results['name']}.md, .json, .png ({len(results['tasks'])} task(s))")
    return 0
