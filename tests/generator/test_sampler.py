"""The task sampler's labeled items: from the condition pool, or from a separate item pool."""

from __future__ import annotations

import torch

from dnd.generator import config as C
from dnd.generator.build import _labeled_items
from dnd.generator.curve import HELD_OUT_ITEMS
from dnd.generator.sampler import TaskSampler
from dnd.tasks.registry import load_pools


def sampler(separate: bool, n_pool: int = 10, n_items: int = 40) -> TaskSampler:
    pools = {"a": torch.arange(float(n_pool))[:, None, None]}  # feature of prompt i = i: (n_pool, 1, 1)
    examples = {"a": [f"item{i}" for i in range(n_items if separate else n_pool)]}
    return TaskSampler(["a"], pools, n_prompts=4, examples=examples, items_per_task=3, separate_items=separate)


def test_condition_pool_items_are_disjoint_from_the_condition():
    s, rng = sampler(separate=False), torch.Generator().manual_seed(0)
    for _ in range(20):
        b = s.draw(1, rng)
        prompts = {int(x) for x in b.cond[0].flatten()}
        items = {int(x[4:]) for x in b.examples[0]}
        assert len(items) == 3 and not prompts & items


def test_separate_item_pool_is_sampled_whole():
    s, rng = sampler(separate=True), torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(30):
        b = s.draw(2, rng)
        for ex in b.examples:
            assert len(set(ex)) == 3
            seen.update(ex)
    assert len(seen) > 30  # items beyond the 10 condition prompts' indices are drawn
    # a draw is reproducible from the generator's state (resume)
    again = sampler(separate=True).draw(2, torch.Generator().manual_seed(5))
    assert again.examples == sampler(separate=True).draw(2, torch.Generator().manual_seed(5)).examples


def test_labeled_items_skip_the_conditions_and_the_curve():
    pool = load_pools("sst2")[0]
    items_of = {"sst2": pool[:16]}
    same = _labeled_items(C.GenTrainSettings(max_pool=16), ["sst2"], items_of)
    assert same["sst2"] == pool[:16]
    apart = _labeled_items(C.GenTrainSettings(max_pool=16, item_pool=10), ["sst2"], items_of)["sst2"]
    assert apart == pool[16 + HELD_OUT_ITEMS: 26 + HELD_OUT_ITEMS]
    prompts = {it.prompt for it in pool[: 16 + HELD_OUT_ITEMS]}  # conditions and held-out curve items
    assert not prompts & {it.prompt for it in apart}
    n = len(pool)  # a pool with nothing left after them keeps its condition items
    assert _labeled_items(C.GenTrainSettings(max_pool=n, item_pool=10), ["sst2"], {"sst2": pool})["sst2"] == pool


def test_item_pool_is_saved_only_when_set():
    assert "item_pool" not in C.GenTrainSettings().to_json()
    t = C.GenTrainSettings(item_pool=64)
    assert t.to_json()["item_pool"] == 64
    assert C.GeneratorConfig.from_json(C.GeneratorConfig(train=t).to_json()).train.item_pool == 64


def test_dnd_train_item_pool_flag_reaches_the_config():
    from dnd.cli.main import build_parser
    from dnd.cli.train_cmd import config_from_args

    args = build_parser().parse_args(["train", "--out", "x", "--objective", "functional", "--item-pool", "96"])
    assert config_from_args(args).train.item_pool == 96
