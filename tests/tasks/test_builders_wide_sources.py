"""The wide suite's tasks from OpenAI evals data and reasoning-gym generators.

Every task builds through the registry (pools are cached per process), its answers are
among its choices, its prompts are unique, its pools are big enough where the data
allows, and a rebuild gives the same pools, in this process and in one with another
hash seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dnd.tasks import builders_evals, builders_rg, registry

EVALS = [s[0] for s in builders_evals.SPECS]
RG = [s[0] for s in builders_rg.SPECS]
DOMAINS = {
    "nli",
    "sentiment/style",
    "reading",
    "science/medical",
    "commonsense",
    "knowledge",
    "math",
    "logic",
    "strings",
    "code",
}


def test_specs_are_wide_tasks_with_known_domains():
    names = EVALS + RG
    assert len(names) == len(set(names)) >= 90
    for name in names:
        spec = registry.get_task(name)
        assert spec.suites in (("wide",), ("wide_val",)) and spec.domain in DOMAINS and not spec.eval_only
    assert len({registry.get_task(n).domain for n in names}) >= 8


@pytest.mark.parametrize("name", EVALS + RG)
def test_task_builds_with_valid_pools(name):
    train, evals = registry.load_pools(name)
    items = train + evals
    assert len(items) >= 150, f"{name}: only {len(items)} items"
    if len(items) >= 250:
        assert len(evals) >= 100 and len(train) >= 150
    prompts = [it.prompt for it in items]
    assert len(set(prompts)) == len(prompts)
    fmt = registry.get_task(name).answer_format
    for it in items:
        assert it.answer and it.answer == it.answer.strip()
        assert "\n" not in it.answer
        # the prompt ends with a one-line instruction on the answer's form
        assert it.prompt.rsplit("\n", 1)[-1].startswith("Answer")
        if it.choices is None:
            assert len(it.answer) <= 32, it.answer  # open answers are short
        else:
            assert it.answer in it.choices and len(set(it.choices)) == len(it.choices) >= 2
        if fmt == "option text":
            # option texts, never the option letters themselves
            assert it.choices is not None and set(it.choices) - set("ABCDE")
        if fmt in ("yes/no", "label"):
            assert it.choices is not None


def _digest(names):
    return {n: [it.to_json() for pool in registry.load_pools(n) for it in pool] for n in names}


def test_rebuild_after_clear_caches_is_identical():
    first = _digest(EVALS)
    registry.clear_caches()
    assert _digest(EVALS) == first


def test_rg_tasks_do_not_depend_on_the_hash_seed():
    # Generators that draw from a Python set change with PYTHONHASHSEED; such generators
    # are dropped (builders_rg.DROPPED). Build the rg tasks again in a process with another
    # seed (slow generators, 2-3 s each, are left out; they build in the test above).
    names = [n for n in RG if n not in ("rg_advanced_geometry", "rg_life_halting", "rg_figlet_font")]
    code = (
        "import json, sys; from dnd.tasks import registry\n"
        "names = json.loads(sys.argv[1])\n"
        "print(json.dumps({n: [it.to_json() for p in registry.load_pools(n) for it in p] for n in names}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(names)], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == _digest(names)


def test_listing_tasks_does_not_import_reasoning_gym():
    code = "import sys, dnd.tasks.registry; print('reasoning_gym' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"


def test_dropped_sources_are_documented():
    assert "sarcasm" in builders_evals.DROPPED and "quartz" in builders_evals.DROPPED
    assert "isomorphic_strings, ransom_note" in builders_rg.DROPPED
