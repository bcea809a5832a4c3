"""The one training loop reproduces the losses of the train.py it replaced (golden_losses.py)."""

from __future__ import annotations

import json

import pytest
from golden_losses import GOLDEN, STEPS, golden_configs, losses_of

GOLDEN_LOSSES = json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def losses(tiny_zoo, tmp_path_factory):
    return losses_of(tiny_zoo, tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("name", sorted(golden_configs()))
def test_losses_match_golden(losses, name):
    """Every objective and head, a few seeded steps: equal to 1e-6 (relative; the golden
    values agree to ~1e-7 between one and two threads). bf16 runs: 1e-4, because bf16
    matmuls round differently by CPU kind (the golden values come from an AVX-512 BF16
    machine; an AVX2-only one, whose torch emulates bf16, differs by ~1e-5 at step 4)."""
    got, want = losses[name], GOLDEN_LOSSES[name]
    tol = 1e-4 if name.endswith("bf16") else 1e-6
    assert len(got) == STEPS
    for a, b in zip(got, want):
        assert abs(a - b) <= tol * max(1.0, abs(b)), (name, got, want)


def test_functional_run_writes_its_learning_curve(tiny_zoo, tmp_path):
    """Held-out items of training tasks (beyond max_pool) are scored before the first step,
    every curve_every steps and at the end; the curve is listed in the manifest."""
    from dnd.fileio import read_json
    from dnd.generator import config as C
    from dnd.generator.train import train_generator

    config = golden_configs()["functional-shared"]
    train_generator(tiny_zoo, tmp_path / "gen", config, curve_every=3)
    curve = read_json(tmp_path / "gen" / C.CURVE)
    assert [p["step"] for p in curve] == [0, 3, STEPS]
    assert set(curve[0]["per_task"]) == {"sst2", "boolq"}
    assert all(p["heldout_loss"] > 0 for p in curve)
    assert C.CURVE in read_json(tmp_path / "gen" / C.MANIFEST)
    # the shuffled control: each task's items under the other task's adapter. At step 0 every
    # condition writes the reference alone (zero delta): the same adapter, the same loss
    assert curve[0]["per_task_shuffled"] == pytest.approx(curve[0]["per_task"], rel=1e-6)
    last = curve[-1]
    assert last["per_task_shuffled"]["sst2"] != pytest.approx(last["per_task"]["sst2"], rel=1e-6)
    assert last["heldout_loss_shuffled"] == pytest.approx(sum(last["per_task_shuffled"].values()) / 2)


def test_max_time_stops_early_and_saves_the_generator(tiny_zoo, tmp_path):
    """--max-time past the first step: the loop stops there, the generator directory is
    complete (manifest, weights), says where it stopped, and its curve ends at that step."""
    from dnd.fileio import read_json
    from dnd.generator import config as C
    from dnd.generator.train import train_generator

    config = golden_configs()["functional-shared"]
    saved = train_generator(tiny_zoo, tmp_path / "gen", config, curve_every=100, max_time=1e-9)
    assert saved["steps_done"] == 1 < config.train.steps
    assert len(read_json(tmp_path / "gen" / C.LOSSES)) == 1
    assert [p["step"] for p in read_json(tmp_path / "gen" / C.CURVE)] == [0, 1]
    assert (tmp_path / "gen" / C.MANIFEST).exists() and not (tmp_path / "gen" / C.STATE).exists()
