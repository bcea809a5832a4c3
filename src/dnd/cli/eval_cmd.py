"""`dnd eval`: accuracy of the base model or an adapter on a task's eval pool or a file."""

from __future__ import annotations

import json
import sys

from dnd.assets import DEFAULT_BASE_MODEL
from dnd.cli.args import nonneg_int, positive_int
from dnd.cli.benchmark_cmd import CALIBRATION_RULES
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
    p.add_argument("--calibrate", metavar="PROMPTS_FILE",
                   help="label-free calibration from unlabeled prompts of the task (.txt or .jsonl, as given to "
                        "dnd generate; choices from the file or, when it has none, from the scored items): divides "
                        "out the model's mean choice distribution on them; tasks whose options vary per item are "
                        "scored as before")
    p.add_argument("--calibration", choices=CALIBRATION_RULES, default="batch",
                   help="batch: the prior is the mean over the prompts; domain: over random-word texts drawn from them")
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
    from dnd.evaluation.scoring import evaluate_items
    from dnd.lora.io import adapter_settings, read_adapter
    from dnd.lora.settings import LoraSettings
    from dnd.lora.swap import AdapterModel

    train, items = load_items(args.task, args.task_file, args.protocol, args.limit)
    if args.calibrate:  # before the model loads: a bad file costs nothing
        cal_prompts, cal_choices = calibration_prompts(args.calibrate, args.protocol, items)
    shots = tuple((it.prompt, it.answer) for it in train[: args.shots])
    if args.adapter:
        runner = AdapterModel(args.base_model, adapter_settings(args.adapter), args.device,
                              args.precision).use(read_adapter(args.adapter))
    else:
        runner = AdapterModel(args.base_model, LoraSettings(), args.device, args.precision).use(None)
    result = evaluate_items(runner.model, runner.tokenizer, items, args.protocol, shots=shots,
                            batch_size=args.batch_size, progress="eval")
    calibration = None
    if args.calibrate:
        result, calibration = calibrate(runner, items, cal_prompts, cal_choices, args.calibration, result)
    what = args.adapter or f"base model {args.base_model}"
    if args.json:
        out = {"task": args.task or args.task_file, "adapter": args.adapter, **result.summary(),
               "calibration": calibration,
               "items": [{"prompt": it.prompt, "answer": it.answer, **p} for it, p in zip(items, result.predictions)]}
        print(json.dumps(out, indent=2))
    else:
        lo, hi = result.ci95
        extra = f", raw loglik {100 * result.acc_raw:.1f}%" if result.acc_raw is not None else ""
        print(f"{args.task or args.task_file} [{args.protocol}] {what}: accuracy {100 * result.accuracy:.1f}% "
              f"(95% CI {100 * lo:.1f}-{100 * hi:.1f}) on {result.n} items{extra}")
        if calibration is not None:
            print(f"calibration: {calibration['note']}")
    return 0


def calibration_prompts(path: str, protocol: str, items) -> tuple[list[str], tuple[str, ...] | None]:
    """The unlabeled prompts of --calibrate and the label set to calibrate over: the file's
    own choices (one set for every row), else the scored items' (None: they vary per item)."""
    from dnd.evaluation.calibration import label_set
    from dnd.tasks.items import load_task_file

    try:
        rows = load_task_file(path, choices_need_answer=False)
    except DndError as e:  # missing, empty, a bad row: one line naming the flag and the file
        raise DndError(f"--calibrate: {e}") from None
    if protocol != "loglik":
        raise DndError(f"--calibrate {path}: calibration re-weighs the choices' log-likelihoods; "
                       "use --protocol loglik")
    with_choices = [(n, r) for n, r in enumerate(rows, 1) if r.choices]
    if with_choices:
        first = sorted(with_choices[0][1].choices)
        for n, r in with_choices:
            if sorted(r.choices) != first:
                raise DndError(f"{path}:{n}: choices differ from the file's first set; calibration needs one label set")
        return [r.prompt for r in rows], tuple(with_choices[0][1].choices)
    return [r.prompt for r in rows], label_set(items)


def calibrate(runner, items, prompts: list[str], choices, rule: str, result):
    """`result` re-scored under the label prior estimated from `prompts`, and what was done."""
    from dnd.evaluation.calibration import calibrate_result, estimate, label_set

    if choices is None or label_set(items) is None:
        return result, {"applied": False, "note": "not applied: the items' options vary per item (scored as before)"}
    overlap = len({it.prompt for it in items} & set(prompts))
    if overlap:
        print(f"dnd: warning: {overlap} calibration prompt(s) are also scored items; keep them disjoint "
              "for an honest score", file=sys.stderr)
    cal = estimate(runner.model, runner.tokenizer, prompts, choices, rule, progress="calibrate")
    changed = calibrate_result(items, result, cal)
    share = sum(p["calibrated"] for p in changed.predictions)
    prior = ", ".join(f"{c} {p:.2f}" for c, p in zip(cal.choices, cal.prior))
    note = (f"{rule} rule over {cal.n_prompts} prompts, applied to {share} of {len(items)} items "
            f"(prior: {prior}); uncalibrated accuracy {100 * result.accuracy:.1f}%")
    return changed, {"applied": True, **cal.to_json(), "uncalibrated_accuracy": result.accuracy, "note": note}
