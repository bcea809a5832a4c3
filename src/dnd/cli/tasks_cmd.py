"""`dnd tasks`: list the task suite, show a task's items, or check a user task file.

    dnd tasks                    table of all tasks (name, suites, domain, pool sizes, answer format)
    dnd tasks --suite short      only one suite's tasks
    dnd tasks --json             the same as a JSON list
    dnd tasks --show arc_e --n 3 a few items of a task (eval pool unless --pool train)
    dnd tasks --check FILE       validate a .jsonl/.txt task file and say whether it is labeled
    dnd tasks --suite wide --export-pools FILE
                                 save the built pools to FILE, for a machine without the data
                                 packages (there: DND_POOLS=FILE; see dnd.tasks.frozen)
"""

from __future__ import annotations

import argparse
import json
import sys

from dnd.cli.args import positive_int
from dnd.errors import DndError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tasks",
        help="list the built-in tasks, show their items, or check a task file",
        description="List the built-in task suite (pools are built on first use and cached "
        "per process), show a few items of a task, or validate a user task file.",
    )
    p.add_argument("--suite", help="only list the tasks of this suite (commonsense, short, wide, wide_val, unseen, "
                   "heldout, mmlu_groups, math_code)")
    p.add_argument("--json", action="store_true", help="print the list as JSON instead of a table")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--check", metavar="FILE", help="validate a .jsonl or .txt task file")
    what.add_argument("--show", metavar="NAME", help="print a few items of task NAME")
    what.add_argument("--export-pools", metavar="FILE.json",
                      help="write the built train/eval pools of --suite (or --tasks) to FILE.json; "
                           "a machine without the data packages reads them with DND_POOLS=FILE.json")
    p.add_argument("--tasks", help="with --export-pools: comma-separated task or suite names")
    p.add_argument("--n", type=positive_int, default=3, help="how many items --show prints (default 3)")
    p.add_argument("--pool", choices=("eval", "train"), default="eval", help="which pool --show reads (default eval)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.check:
        return _check(args.check)
    if args.show:
        return _show(args.show, args.n, args.pool)
    if args.export_pools:
        return _export(args.export_pools, args.tasks or args.suite)
    return _list(args.suite, args.json)


def _check(path: str) -> int:
    from dnd.tasks.items import is_labeled, load_task_file

    items = load_task_file(path)
    n = len(items)
    answered = sum(it.answer is not None for it in items)
    with_choices = sum(it.choices is not None for it in items)
    if is_labeled(items):
        status = f"labeled (choices on {with_choices})"
    elif answered == 0:
        status = "unlabeled"
    else:
        status = f"partly labeled (answers on {answered}, choices on {with_choices})"
    print(f"{path}: {n} rows, {status}")
    return 0


def _rows(suite: str | None) -> list[dict]:
    """One row per task; a task whose data is not on this machine (e.g. the BIG-bench cache
    of `unseen`) is listed with null pool sizes and the reason under "missing"."""
    from tqdm import tqdm

    from dnd.tasks.registry import list_tasks, load_pools
    from dnd.tasks.sources import MissingDataError

    rows = []
    # disable=None: a bar on a terminal, nothing when stderr is a pipe or a log file.
    for spec in tqdm(list_tasks(suite), desc="loading tasks", unit="task", leave=False, disable=None):
        row = {"name": spec.name, "suite": spec.suite, "suites": list(spec.suites), "domain": spec.domain}
        try:
            train, evals = load_pools(spec.name)
            row |= {"train": len(train), "eval": len(evals)}
        except MissingDataError as e:
            row |= {"train": None, "eval": None, "missing": str(e)}
        rows.append(row | {"answer_format": spec.answer_format})
    return rows


def _export(path: str, names: str | None) -> int:
    from tqdm import tqdm

    from dnd.artifacts import check_output_file
    from dnd.tasks.frozen import export_pools
    from dnd.tasks.registry import load_pools, resolve_tasks

    if not names:
        raise DndError("--export-pools needs --suite or --tasks (which tasks to export)")
    specs = resolve_tasks(names)
    check_output_file(path, "--export-pools")  # before minutes of building
    pools = {spec.name: load_pools(spec.name) for spec in tqdm(specs, desc="building pools", unit="task", disable=None)}
    export_pools(pools, path)
    n_items = sum(len(t) + len(e) for t, e in pools.values())
    print(f"{path}: pools of {len(pools)} task(s), {n_items} items (use with DND_POOLS={path})")
    return 0


def _list(suite: str | None, as_json: bool) -> int:
    rows = _rows(suite)
    if as_json:
        print(json.dumps(rows, indent=1))
        return 0
    header = {k: k for k in ("name", "suites", "domain", "train", "eval")} | {"answer_format": "answer"}
    blank = {"train": "-", "eval": "-"}
    cells = [header] + [{**r, "suites": ",".join(r["suites"]), **(blank if "missing" in r else {})} for r in rows]
    widths = {k: max(len(str(c[k])) for c in cells) for k in header}
    for c in cells:
        line = (str(c[k]).rjust(w) if k in ("train", "eval") else str(c[k]).ljust(w) for k, w in widths.items())
        print("  ".join(line).rstrip())
    present = [r for r in rows if "missing" not in r]
    total_train, total_eval = sum(r["train"] for r in present), sum(r["eval"] for r in present)
    print(f"{len(rows)} tasks, {total_train} train and {total_eval} eval items")
    reasons: dict[str, int] = {}
    for r in rows:
        if "missing" in r:
            reasons[r["missing"]] = reasons.get(r["missing"], 0) + 1
    for reason, n in reasons.items():  # e.g. one line for all 40 BIG-bench tasks
        print(f"{n} task(s) without data here (-): {reason}")
    return 0


def _show(name: str, n: int, pool: str) -> int:
    from dnd.tasks.registry import get_task, load_pools

    if n < 1:
        raise DndError(f"--n must be at least 1, got {n}")
    spec = get_task(name)
    train, evals = load_pools(spec.name)
    items = evals if pool == "eval" else train
    print(
        f"{spec.name}: suites {','.join(spec.suites)}; domain {spec.domain}; answer {spec.answer_format}; "
        f"{len(train)} train / {len(evals)} eval items; first {min(n, len(items))} of the {pool} pool"
    )
    for i, it in enumerate(items[:n], 1):
        print(f"\n--- {pool} item {i}")
        print(it.prompt)
        if it.choices is not None:
            print(f"[choices] {' | '.join(it.choices)}")
        print(f"[answer] {it.answer}")
    sys.stdout.flush()
    return 0
