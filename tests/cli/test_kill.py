"""kill -9 at a seeded random moment, then rerun: the output is sound after the kill and the
rerun's artifacts are identical to an uninterrupted run's (zoo, train, reproduce on tiny
models). The full battery (more trials, every objective) is scripts/kill_battery.py."""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kill_battery.py"
spec = importlib.util.spec_from_file_location("kill_battery", SCRIPT)
kb = importlib.util.module_from_spec(spec)
sys.modules["kill_battery"] = kb  # dataclasses look their module up there
spec.loader.exec_module(kb)

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def zoo_argv(model):
    return lambda out: kb.dnd_argv("zoo", "--tasks", "sst2", "--out", out, "--rank", "2", "--alpha", "4", "--steps", "5",
                                   "--keep", "2", "--batch-size", "2", "--max-length", "48", "--lr", "1e-2",
                                   "--base-model", model)


def train_argv(zoo):
    # fewer steps than a training state is saved after (100): the rerun starts over; kills after a
    # saved state (resumed runs) are the battery script's
    return lambda out: kb.dnd_argv("train", "--zoo", zoo, "--out", out, "--steps", "40", "--batch-size", "2",
                                   "--n-prompts", "8", "--hidden-channels", "8")


def reproduce_argv(model):
    # builds its own two-task zoo (reproduce's LoRA shape), then holds each task out in turn
    return lambda out: kb.dnd_argv(
        "reproduce", "--suite", "short", "--tasks", "sst2,boolq", "--train-on", "zoo", "--zoo", out / "zoo",
        "--out", out, "--limit", "3", "--protocols", "loglik", "--zoo-steps", "3", "--zoo-keep", "2",
        "--zoo-batch-size", "2", "--zoo-max-length", "48", "--zoo-lr", "1e-2", "--gen-steps", "3",
        "--gen-batch-size", "2", "--n-prompts", "4", "--hidden-channels", "8", "--icl-context", "128",
        "--batch-size", "4", "--base-model", model)


@pytest.mark.parametrize("name", ["zoo", "train", "reproduce"])
def test_kill_and_rerun_is_identical(name, tmp_path, tiny_model, tiny_zoo):
    zoo = shutil.copytree(tiny_zoo, tmp_path / "zoo")  # what train reads
    argv = {"zoo": zoo_argv(tiny_model), "train": train_argv(zoo), "reproduce": reproduce_argv(tiny_model)}[name]
    job = kb.Job(name, argv)
    ref_out = tmp_path / "ref"
    code, seconds, tail = kb.run(argv(ref_out), ENV)
    assert code == 0, tail
    ref = kb.fingerprint(ref_out)
    assert any(k.endswith(".safetensors") for k in ref)  # something real was produced

    t = kb.trial(job, ref, seconds, tmp_path / "trial", ENV, random.Random(f"kill-{name}"))
    assert t.landed, "the kill should land mid-run"
    assert t.sound == [], t.sound  # no corrupt artifact after the kill
    assert t.rerun_code == 0 and t.identical, t.note
