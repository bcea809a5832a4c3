"""The task suite: named tasks, the suites that group them, and their fixed data pools.

Every task is built from data shipped in PyPI packages (see `dnd.tasks.sources`). None of
these benchmarks has a training split we can use, so each task's items are split here
into two disjoint pools:

    eval pool   the scored items: the first `min(spec.eval_size, 40% of the items)` items
    train pool  the rest, capped at TRAIN_CAP items: prompts for LoRA training and for
                conditioning the generator

where items are ordered by the SHA-256 of their prompt. That order depends only on the
prompt text, so the split is the same in every process and on every machine (unlike
Python's salted `hash`), and an item never changes pool when other items are added or
removed. Prompts are unique within a task, so the pools are disjoint by prompt.

Evaluation-only tasks (suites `unseen` and `heldout`) never train: they score all but
`spec.min_train` of their items (at most eval_size), and the rest is the train pool, read
only as condition prompts, ICL shots and the full-shot reference (`split_sizes`).

The train pool is capped because nothing downstream uses more (a zoo LoRA trains for a
few hundred steps), and a bounded pool keeps prompt embedding and listing fast.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field, replace
from typing import Callable

from dnd.errors import DndError
from dnd.tasks import builders as b
from dnd.tasks import builders_bigbench as bb
from dnd.tasks import builders_evals as ev
from dnd.tasks import builders_heldout as ho
from dnd.tasks import builders_rg as rg
from dnd.tasks import builders_wide as w
from dnd.tasks import frozen, sources
from dnd.tasks.items import Item, dedupe, prompt_key

TRAIN_CAP = 2000
EVAL_FRACTION = 0.4
EVAL_ONLY_MIN_TRAIN = 128  # one condition batch: all an eval-only task's train pool is for


@dataclass(frozen=True)
class TaskSpec:
    """A task: where its items come from and how its answers look.

    suites         the suites it belongs to; the first is its primary suite
    domain         a coarse topic ("science", "nli", "sentiment", ...)
    answer_format  "yes/no", "label", "option text", "number", "final answer" or "code"
    build          makes all its items (called once per process, through `load_pools`)
    eval_size      how many items to score at most (fewer when the data is small)
    eval_only      a reason (e.g. the BIG-bench canary) why no LoRA, zoo, generator or
                   multi-task adapter may ever train on this task; None for trainable tasks
    min_train      an eval-only task's train pool: this many items (condition prompts),
                   the rest scored up to eval_size (`split_sizes`)
    """

    name: str
    suites: tuple[str, ...]
    domain: str
    answer_format: str
    build: Callable[[], list[Item]] = field(repr=False, compare=False)
    eval_size: int = 200
    eval_only: str | None = None
    min_train: int = EVAL_ONLY_MIN_TRAIN

    @property
    def suite(self) -> str:
        return self.suites[0]


def _t(name, suites, domain, fmt, build, eval_size=200):
    return TaskSpec(name, tuple(suites.split()), domain, fmt, build, eval_size)


# Domains of the wide library (DESIGN.md section 6); every task has one of these.
DOMAINS = ("nli", "sentiment/style", "reading", "science/medical", "commonsense", "knowledge",
           "math", "logic", "strings", "code")

_SPECS: list[TaskSpec] = [
    # The paper's seven commonsense-reasoning benchmarks.
    _t("arc_e", "commonsense wide", "science/medical", "option text", b.build_arc_e),
    _t("arc_c", "commonsense wide", "science/medical", "option text", b.build_arc_c),
    _t("boolq", "commonsense short wide", "reading", "yes/no", b.build_boolq),
    _t("hellaswag", "commonsense wide", "commonsense", "option text", b.build_hellaswag),
    _t("piqa", "commonsense wide", "commonsense", "option text", b.build_piqa),
    _t("winogrande", "commonsense wide", "commonsense", "option text", b.build_winogrande),
    _t("obqa", "commonsense wide", "science/medical", "option text", b.build_obqa),
    # Short answers (a word or a short option): where a 135M model's own-task LoRA
    # clearly beats the base model (DESIGN.md section 4).
    _t("sst2", "short wide", "sentiment/style", "label", b.build_sst2),
    _t("rte", "short wide", "nli", "yes/no", b.build_rte),
    _t("mrpc", "short wide", "nli", "yes/no", b.build_mrpc),
    _t("cb", "short", "nli", "label", b.build_cb),  # 56 items: too few for a wide-zoo LoRA
    _t("copa", "short", "commonsense", "option text", b.build_copa),  # 100 items, likewise
    _t("sciq", "short wide", "science/medical", "option text", b.build_sciq),
    _t("social_iqa", "short wide", "commonsense", "option text", b.build_social_iqa),
    _t("sarcasm", "short wide", "sentiment/style", "yes/no", b.build_sarcasm),
    _t("quartz", "short wide", "science/medical", "option text", b.build_quartz),
    _t("basic_knowledge", "short wide", "knowledge", "option text", b.build_basic_knowledge),
    # Knowledge and basic skills.
    _t("commonsense_qa", "wide", "commonsense", "option text", w.build_commonsense_qa),
    _t("medmcqa", "wide", "science/medical", "option text", w.build_medmcqa),
    _t("arithmetic", "wide", "math", "option text", w.build_arithmetic),
    _t("basic_coding", "wide", "code", "option text", w.build_basic_coding),
    _t("basic_logic", "wide", "logic", "option text", w.build_basic_logic),
    _t("basic_pattern", "wide", "logic", "option text", w.build_basic_pattern),
    _t("basic_strings", "wide", "strings", "option text", w.build_basic_strings),
    # MMLU by category (the wide library has one task per subject instead).
    _t("mmlu_stem", "mmlu_groups", "science/medical", "option text", w.build_mmlu_stem),
    _t("mmlu_humanities", "mmlu_groups", "knowledge", "option text", w.build_mmlu_humanities),
    _t("mmlu_social", "mmlu_groups", "knowledge", "option text", w.build_mmlu_social),
    _t("mmlu_other", "mmlu_groups", "knowledge", "option text", w.build_mmlu_other),
    # Generative math and code (no choices).
    _t("gsm8k", "math_code", "math", "number", w.build_gsm8k),
    _t("math", "math_code", "math", "final answer", w.build_math),
    _t("mbpp", "math_code", "code", "code", w.build_mbpp),
    _t("humaneval", "math_code", "code", "code", w.build_humaneval),
]

# The wide training library: each builder module lists its tasks as
# (name, domain, answer_format, build); see those modules for what was dropped and why.
for _name, _domain, _fmt, _build in (*w.WIDE_SPECS, *ev.SPECS, *rg.SPECS):
    _SPECS.append(_t(_name, "wide", _domain, _fmt, _build))
# The never-trained test bed: BIG-bench JSON tasks, evaluation only (the canary).
for _name, _domain, _fmt, _build in bb.SPECS:
    _SPECS.append(TaskSpec(_name, ("unseen",), _domain, _fmt, _build, eval_size=bb.EVAL_SIZE, eval_only=bb.CANARY))
# The never-trained test suite from PyPI data (no BIG-bench needed): evaluation only, with
# 32 condition prompts a task and up to 200 scored items.
for _name, _domain, _fmt, _build in ho.SPECS:
    _SPECS.append(TaskSpec(_name, ("heldout",), _domain, _fmt, _build, eval_size=ho.EVAL_SIZE,
                           eval_only=ho.REASON, min_train=ho.CONDITION_POOL))



def _is_validation(name: str) -> bool:
    # About one task in 16, fixed by its name alone (no look at any result).
    return hashlib.sha256(name.encode("utf-8")).digest()[0] < 16


# Validation tasks: held out of `wide` into `wide_val`, so that generator choices
# (objective, head, steps, weights) are made on tasks it never trained on, not BIG-bench.
_SPECS = [replace(s, suites=tuple("wide_val" if x == "wide" else x for x in s.suites))
          if "wide" in s.suites and _is_validation(s.name) else s for s in _SPECS]

TASKS: dict[str, TaskSpec] = {s.name: s for s in _SPECS}

SUITES: dict[str, list[str]] = {}
for _spec in _SPECS:
    for _suite in _spec.suites:
        SUITES.setdefault(_suite, []).append(_spec.name)
del _spec, _suite


def list_tasks(suite: str | None = None) -> list[TaskSpec]:
    """All tasks in registry order, or those of one suite (unknown suite -> DndError)."""
    if suite is None:
        return list(_SPECS)
    if suite not in SUITES:
        raise DndError(f"unknown suite '{suite}' (known: {', '.join(SUITES)})")
    return [TASKS[n] for n in SUITES[suite]]


def pick_tasks(suite: str, max_tasks: int | None) -> list[str]:
    """A suite's tasks round-robin over their domains (suite order within
    a domain), cut to `max_tasks`, so a cut keeps every domain (the unseen benchmark's scored
    tasks, the wide zoo's build order). Fixed by the suite alone, never by results."""
    by_domain: dict[str, list[str]] = {}
    for t in SUITES[suite]:
        by_domain.setdefault(get_task(t).domain, []).append(t)
    order, lists = [], list(by_domain.values())
    while any(lists):
        for tasks in lists:
            if tasks:
                order.append(tasks.pop(0))
    return order[:max_tasks] if max_tasks else order


def get_task(name: str) -> TaskSpec:
    """The task called `name` (unknown name -> DndError listing the known ones)."""
    try:
        return TASKS[name]
    except KeyError:
        raise DndError(f"unknown task '{name}' (known: {', '.join(TASKS)})") from None


def resolve_tasks(names: str) -> list[TaskSpec]:
    """Tasks from a comma-separated list of task names, suite names, or "all".

    Order follows the list (suites expand in registry order); repeats are dropped.
    """
    out: dict[str, TaskSpec] = {}
    for token in (t.strip() for t in names.split(",")):
        if not token:
            continue
        if token == "all":
            specs = list_tasks()
        elif token in SUITES and token not in TASKS:
            specs = list_tasks(token)
        elif token in TASKS:
            specs = [TASKS[token]]
        else:
            raise DndError(
                f"unknown task or suite '{token}' (suites: {', '.join(SUITES)}; tasks: {', '.join(TASKS)})"
            )
        for s in specs:
            out.setdefault(s.name, s)
    if not out:
        raise DndError("no task given")
    return list(out.values())


class EvalOnlyError(DndError):
    """Training was asked for on an evaluation-only task."""


def check_trainable(names) -> None:
    """Raise EvalOnlyError (one line: task and reason) if any of `names` is evaluation-only.

    Every path that trains on task data (zoo, generator training, multi-task LoRA) calls
    this before reading a single item. Unknown names are left to the caller."""
    for name in names:
        spec = TASKS.get(name)
        if spec is not None and spec.eval_only:
            raise EvalOnlyError(f"task '{name}' is evaluation-only and cannot be trained on: {spec.eval_only}")


def _check(name: str, items: list[Item]) -> None:
    # Builders' contract; a failure here is a bug in a builder, not a user error.
    for it in items:
        if not it.prompt.strip() or it.answer is None or not it.answer.strip():
            raise AssertionError(f"task {name}: empty prompt or answer in {it!r:.200}")
        if it.choices is not None and it.answer not in it.choices:
            raise AssertionError(f"task {name}: answer not among choices in {it!r:.200}")


def split_sizes(n_items: int, eval_size: int, eval_only: bool = False,
                min_train: int = EVAL_ONLY_MIN_TRAIN) -> tuple[int, int]:
    """(train, eval) pool sizes for a task of `n_items` unique items.

    An evaluation-only task never trains a LoRA that the other tasks learn from, so its
    train pool (condition prompts, ICL shots, the full-shot reference) keeps `min_train`
    items (`unseen`: one condition batch, 128; `heldout`: 32) and the rest goes to the
    scored pool, up to `eval_size`."""
    n_eval = int(n_items * EVAL_FRACTION)
    if eval_only:
        n_eval = max(n_eval, n_items - min_train)
    n_eval = min(eval_size, n_eval)
    return min(TRAIN_CAP, n_items - n_eval), n_eval


@functools.lru_cache(maxsize=None)
def _pools(name: str) -> tuple[tuple[Item, ...], tuple[Item, ...]]:
    spec = get_task(name)
    saved = frozen.frozen_pools(spec.name)  # $DND_POOLS: pools exported on another machine
    if saved is not None:
        return saved
    items = dedupe(spec.build())
    _check(name, items)
    ordered = sorted(items, key=prompt_key)
    n_train, n_eval = split_sizes(len(ordered), spec.eval_size, spec.eval_only is not None, spec.min_train)
    return tuple(ordered[n_eval : n_eval + n_train]), tuple(ordered[:n_eval])


def load_pools(name: str) -> tuple[list[Item], list[Item]]:
    """(train_pool, eval_pool) of a task: disjoint, deterministic, built once per process."""
    train, evals = _pools(name)
    return list(train), list(evals)


def clear_caches() -> None:
    """Forget built pools and read files (the next `load_pools` rebuilds from disk)."""
    _pools.cache_clear()
    frozen.clear_cache()
    sources.clear_caches()
    bb.clear_caches()
    ho.clear_caches()
