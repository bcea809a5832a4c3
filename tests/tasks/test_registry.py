"""The built-in task suite: every task loads, and its pools are valid, disjoint and fixed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from dnd.errors import DndError
from dnd.tasks import registry
from dnd.tasks.items import Item, dedupe
from dnd.tasks.registry import (
    SUITES,
    get_task,
    list_tasks,
    load_pools,
    resolve_tasks,
    split_sizes,
)

ALL = [s.name for s in list_tasks()]


def _digest(names: list[str]) -> str:
    """One hash over every task's (train, eval) prompts and answers, in pool order."""
    h = hashlib.sha256()
    for name in names:
        for pool in load_pools(name):
            h.update(b"\x00pool")
            for it in pool:
                h.update(json.dumps(it.to_json(), sort_keys=True).encode())
    return h.hexdigest()


def test_registry_shape():
    assert len(ALL) >= 25
    assert len(set(ALL)) == len(ALL)
    assert set(SUITES["commonsense"]) == {"arc_e", "arc_c", "boolq", "hellaswag", "piqa", "winogrande", "obqa"}
    assert len(SUITES["short"]) >= 10
    assert {"commonsense_qa", "social_iqa", "sciq"} <= set(SUITES["wide"])
    assert sum(n.startswith("mmlu_") for n in SUITES["wide"]) >= 3
    assert set(SUITES["math_code"]) == {"gsm8k", "math", "mbpp", "humaneval"}
    # the wide training library, its validation tasks, and the never-trained unseen and heldout suites
    assert len(SUITES["wide"]) >= 150 and len(SUITES["unseen"]) >= 30 and len(SUITES["heldout"]) >= 30
    assert len({get_task(n).domain for n in SUITES["wide"]}) >= 8
    assert set(SUITES["wide_val"]) and not set(SUITES["wide_val"]) & set(SUITES["wide"])
    assert all(get_task(n).eval_only for n in SUITES["unseen"] + SUITES["heldout"])
    assert not any(get_task(n).eval_only for n in SUITES["wide"] + SUITES["wide_val"])
    for spec in list_tasks():
        assert spec.domain in registry.DOMAINS
        assert spec.suites and spec.suite == spec.suites[0]
        assert spec.domain and spec.answer_format
        for suite in spec.suites:
            assert spec.name in SUITES[suite]


@pytest.mark.parametrize("name", ALL)
def test_task_pools_are_valid(name):
    spec = get_task(name)
    train, evals = load_pools(name)
    n_unique = len(dedupe(spec.build()))
    assert (len(train), len(evals)) == split_sizes(n_unique, spec.eval_size, spec.eval_only is not None, spec.min_train)
    assert len(evals) > 0 and len(train) > 0
    if n_unique >= 500:
        assert len(evals) >= 200 or spec.eval_size < 200
    assert len(train) <= registry.TRAIN_CAP
    train_prompts = [it.prompt for it in train]
    eval_prompts = [it.prompt for it in evals]
    assert len(set(train_prompts)) == len(train_prompts)
    assert len(set(eval_prompts)) == len(eval_prompts)
    assert not set(train_prompts) & set(eval_prompts)
    for it in train + evals:
        assert it.prompt.strip() and it.answer is not None and it.answer.strip()
        if it.choices is not None:
            assert it.answer in it.choices
            assert len(set(it.choices)) == len(it.choices) >= 2
    # Choice tasks say so in their answer format, generative ones have no choices.
    has_choices = {it.choices is not None for it in train + evals}
    assert has_choices == ({False} if spec.answer_format in ("number", "final answer", "short phrase", "code") else {True})


def test_pools_are_sha256_ordered():
    train, evals = load_pools("sst2")
    keys = [hashlib.sha256(it.prompt.encode()).hexdigest() for it in evals + train]
    assert keys == sorted(keys)


def test_pools_repeat_after_clearing_caches_and_across_processes():
    """Every task's pools are the same after clear_caches() rebuilds them from disk, and in
    another process under another hash seed (the split hashes prompts with sha256). The two
    rebuilds run side by side: each takes about half a minute."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from test_registry import _digest, ALL; print(_digest(ALL))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.Popen([sys.executable, "-c", code, os.path.dirname(__file__)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        before = _digest(ALL)
        registry.clear_caches()
        assert _digest(ALL) == before
        out, err = other.communicate(timeout=600)
    finally:
        other.kill()
    assert other.returncode == 0, err
    assert out.strip() == before


def test_load_pools_returns_fresh_lists():
    train, _ = load_pools("rte")
    train.clear()
    assert load_pools("rte")[0]


def test_dedupe_drops_conflicting_prompts():
    yes = Item("p", "yes", ("yes", "no"))
    items = [yes, yes, Item("q", "yes"), Item("q", "no"), Item("r", "x")]
    assert dedupe(items) == [yes, Item("r", "x")]


def test_split_sizes():
    assert split_sizes(10_000, 200) == (2000, 200)
    assert split_sizes(500, 200) == (300, 200)
    assert split_sizes(100, 200) == (60, 40)


def test_unknown_names():
    with pytest.raises(DndError, match="unknown task 'nosuch' \\(known: arc_e"):
        get_task("nosuch")
    with pytest.raises(DndError, match="unknown suite"):
        list_tasks("nosuch")
    with pytest.raises(DndError, match="unknown task or suite 'nope'"):
        resolve_tasks("sst2,nope")


def test_resolve_tasks():
    assert [s.name for s in resolve_tasks("sst2, rte,sst2")] == ["sst2", "rte"]
    assert [s.name for s in resolve_tasks("commonsense")] == SUITES["commonsense"]
    names = [s.name for s in resolve_tasks("math,short")]
    assert names[0] == "math" and names[1:] == SUITES["short"]
    assert len(resolve_tasks("all")) == len(ALL)
