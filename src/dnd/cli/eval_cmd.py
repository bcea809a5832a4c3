"""`dnd eval`: accuracy of the base model or an adapter on a task's eval pool or a file."""

from __future__ import annotations

import json

from dnd.assets import DEFAULT_BASE_MODEL
from dnd.cli.args import nonneg_int, positive_int
from dnd.errors import DndError


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="score the base model or an adapter on a task's eval pool or a labeled file",
        description="Accuracy with a 95% Wilson interval. Protocols: generate (greedy decoding, "
        "answer extracted and exact-matched) and loglik (choice with the highest length-normalized "
        "log-likelihood; raw log-likelihood accuracy reported too). Without --adapter: the base model.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", help="a built-in task (its eval pool is scored)")
    src.add_argument("--task-file", metavar="FILE", help="a labeled .jsonl task file")
    p.add_argument("--adapter", metavar="DIR", help="a PEFT adapter directory")
    p.add_argument("--protocol", choices=("generate", "loglik"), default="loglik")
    p.add_argument("--limit", type=positive_int, default=None, help="score only the first N items")
    p.add_argument("--shots", type=nonneg_int, default=0, help="k labeled train-pool examples in context (built-in tasks)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--json", action="store_true", help="print JSON with per-item predictions")
    p.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="bf16: base weights in bf16 (faster on CPUs with AMX; benchmarks/bench_scoring_precision.py)")
    p.set_defaults(func=run)


def load_items(task: str | None, task_file: str | None, protocol: str, limit: int | None):
    from dnd.tasks.items import load_task_file
    from dnd.tasks.registry import load_pools

    if task:
        train, items = load_pools(task)
        where = f"task {task}"
    else:
        items, train = load_task_file(task_file), []
        where = task_file
        unlabeled = [i for i, it in enumerate(items, 1) if it.answer is None]
        if unlabeled:
            raise DndError(f"{task_file}:{unlabeled[0]}: row has no 'answer'; eval needs labeled rows")
    if protocol == "loglik" and any(not it.choices for it in items):
        raise DndError(f"{where}: --protocol loglik needs 'choices' on every row; use --protocol generate")
    if limit is not None:
        if limit < 1:
            raise DndError("--limit must be positive")
        items = items[:limit]
    return train, items


def run(args) -> int:
    from dnd.evaluation.adapters import AdapterModel, adapter_settings, read_adapter
    from dnd.evaluation.scoring import evaluate_items
    from dnd.zoo.lora import LoraSettings

    train, items = load_items(args.task, args.task_file, args.protocol, args.limit)
    shots = tuple((it.prompt, it.answer) for it in train[: args.shots])
    if args.adapter:
        runner = AdapterModel(args.base_model, adapter_settings(args.adapter), args.device,
                              args.precision).use(read_adapter(args.adapter))
    else:
        runner = AdapterModel(args.base_model, LoraSettings(), args.device, args.precision).use(None)
    result = evaluate_items(runner.model, runner.tokenizer, items, args.protocol, shots=shots,
                            batch_size=args.batch_size, progress="eval")
    what = args.adapter or f"base model {args.base_model}"
    if args.json:
        out = {"task": args.task or args.task_file, "adapter": args.adapter, **result.summary(),
               "items": [{"prompt": it.prompt, "answer": it.answer, **p} for it, p in zip(items, result.predictions)]}
        print(json.dumps(out, indent=2))
    else:
        lo, hi = result.ci95
        extra = f", raw loglik {100 * result.acc_raw:.1f}%" if result.acc_raw is not None else ""
        print(f"{args.task or args.task_file} [{args.protocol}] {what}: accuracy {100 * result.accuracy:.1f}% "
              f"(95% CI {100 * lo:.1f}-{100 * hi:.1f}) on {result.n} items{extra}")
    return 0
