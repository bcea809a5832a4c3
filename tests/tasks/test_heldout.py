"""The `heldout` suite: never-trained tasks built from PyPI-package data. Every task builds, its
pools follow the suite's split (32 condition prompts, up to 200 scored items), every item is
choice-scorable, and training refuses them (the same pools under another hash seed:
test_registry.py)."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from dnd.tasks import builders_heldout as ho
from dnd.tasks import builders_heldout_gen as gen
from dnd.tasks import registry
from dnd.tasks.registry import DOMAINS, SUITES, TRAIN_CAP, get_task, load_pools, split_sizes

HELDOUT = SUITES.get("heldout", [])


def test_suite_is_eval_only_and_apart():
    assert len(HELDOUT) >= 30 and HELDOUT == [name for name, *_ in ho.SPECS]
    assert len({get_task(n).domain for n in HELDOUT}) >= 8
    elsewhere = {n for s, names in SUITES.items() if s != "heldout" for n in names}
    for name in HELDOUT:
        spec = get_task(name)
        assert name.startswith("ho_") and name not in elsewhere
        assert spec.suites == ("heldout",) and spec.domain in DOMAINS
        assert spec.eval_only == ho.REASON and spec.eval_size == 200 and spec.min_train == 32
        with pytest.raises(registry.EvalOnlyError, match=f"{name}.*heldout"):
            registry.check_trainable(["sst2", name])


def test_split_rule():
    # eval pool min(200, n - 32), the rest the condition pool; unseen's rule is unchanged
    assert split_sizes(132, 200, eval_only=True, min_train=32) == (32, 100)
    assert split_sizes(190, 200, eval_only=True, min_train=32) == (32, 158)
    assert split_sizes(300, 200, eval_only=True, min_train=32) == (100, 200)
    assert split_sizes(190, 300, eval_only=True) == (114, 76)


@pytest.mark.parametrize("name", HELDOUT)
def test_task_pools(name):
    spec = get_task(name)
    train, evals = load_pools(name)
    n = len(train) + len(evals)
    assert n >= 132 and len(evals) >= 100 and len(train) >= 32
    assert len(evals) == (200 if len(train) == TRAIN_CAP else min(200, n - 32))
    prompts = [it.prompt for it in train + evals]
    assert len(set(prompts)) == len(prompts)  # unique, so the pools are disjoint
    for it in train + evals:
        assert it.choices is not None and it.answer in it.choices
        assert len(set(it.choices)) == len(it.choices) >= 2
        assert len(it.prompt) <= 3000 and it.prompt.splitlines()[-1].startswith("Answer ")
    if spec.answer_format in ("label", "yes/no"):  # one label set: batch calibration applies
        assert len({it.choices for it in train + evals}) == 1
    else:  # options listed in the prompt, the answer not always in the same place
        assert spec.answer_format == "option text"
        assert len(Counter(it.choices.index(it.answer) for it in evals)) > 1


# The same pools under another hash seed: tests/tasks/test_registry.py's
# test_pools_repeat_after_clearing_caches_and_across_processes builds every task, these included, in a subprocess.


def test_generators_leave_the_global_random_state_alone():
    before = random.getstate(), np.random.get_state()[1].copy()
    assert gen.build_is_factor()
    assert random.getstate() == before[0] and (np.random.get_state()[1] == before[1]).all()


def test_reasoning_gym_letter_sets_iterate_in_order():
    letters = gen._Sorted("dcba")
    assert list(letters) == list("abcd") and list(letters - {"b"}) == list("acd")
