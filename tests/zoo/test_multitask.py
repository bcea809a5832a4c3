"""The multi-task LoRA: balanced stream, trains on two tiny tasks, loads in PEFT, lives in the zoo."""

from __future__ import annotations

import collections
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.tasks.items import Item
from dnd.zoo import manifest as mf
from dnd.zoo.multitask import MULTITASK_DIR, balanced_stream


def test_balanced_stream_weighs_tasks_equally():
    pools = {"big": [Item(f"b{i}", "x") for i in range(500)], "small": [Item(f"s{i}", "y") for i in range(7)]}
    stream = balanced_stream(pools, 100, seed=0)
    counts = collections.Counter(it.prompt[0] for it in stream)
    assert counts == {"b": 50, "s": 50}
    assert len({it.prompt for it in stream if it.prompt[0] == "s"}) == 7  # the small pool is cycled
    assert stream == balanced_stream(pools, 100, seed=0)


def dnd(*args):
    return subprocess.run([sys.executable, "-m", "dnd.cli", *args], capture_output=True, text=True)


def test_multitask_lora_trains_stores_and_loads_in_peft(tmp_path, tiny_model):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    zoo = tmp_path / "zoo"
    args = ["zoo", "--tasks", "sst2,boolq", "--out", str(zoo), "--base-model", tiny_model, "--rank", "4",
            "--alpha", "8", "--steps", "4", "--keep", "2", "--batch-size", "2", "--max-length", "64",
            "--multitask", "mt", "--multitask-factor", "2"]
    r = dnd(*args)
    assert r.returncode == 0, r.stderr
    entry = mf.load_manifest(zoo)["multitask"]["mt"]
    assert entry["tasks"] == ["sst2", "boolq"] and entry["train"]["steps"] == 8
    path = zoo / MULTITASK_DIR / "mt" / "adapter"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), path)
    saved = load_file(path / ADAPTER_WEIGHTS)
    assert any(v.abs().sum() > 0 for k, v in saved.items() if "lora_B" in k)  # it trained
    assert sum("lora_" in n for n, _ in model.named_parameters()) == len(saved)
    mf.verify(zoo, mf.load_manifest(zoo))
    again = dnd(*args)  # rerun: found, not retrained
    assert again.returncode == 0 and "already in" in again.stdout


@pytest.mark.parametrize("cmd, reason", [
    (["zoo", "--tasks", "sst2,bb_navigate", "--out", "{tmp}/zoo"], "canary"),
    (["zoo", "--tasks", "sst2,bb_navigate", "--out", "{tmp}/zoo", "--multitask", "mt"], "canary"),
    (["zoo", "--tasks", "unseen", "--out", "{tmp}/zoo"], "canary"),
    (["zoo", "--tasks", "sst2,ho_rhyme", "--out", "{tmp}/zoo"], "never-trained test suite (heldout)"),
    (["zoo", "--tasks", "sst2,ho_rhyme", "--out", "{tmp}/zoo", "--multitask", "mt"], "never-trained test suite"),
    (["zoo", "--tasks", "heldout", "--out", "{tmp}/zoo"], "never-trained test suite (heldout)"),
    (["train", "--objective", "functional", "--tasks", "sst2,ho_iris", "--out", "{tmp}/zoo"], "(heldout)"),
])
def test_eval_only_tasks_are_refused_by_training_commands(tmp_path, cmd, reason):
    r = dnd(*[c.format(tmp=tmp_path) for c in cmd])
    assert r.returncode == 2
    assert "evaluation-only" in r.stderr and reason in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "zoo").exists()  # refused before anything was written


def test_zoo_scores_base_and_own_lora_and_reports(tmp_path, tiny_model):
    zoo = tmp_path / "zoo"
    r = dnd("zoo", "--tasks", "sst2", "--out", str(zoo), "--base-model", tiny_model, "--rank", "4", "--alpha", "8",
            "--steps", "3", "--keep", "2", "--batch-size", "2", "--max-length", "64", "--eval-n", "5")
    assert r.returncode == 0, r.stderr
    ev = mf.load_manifest(zoo)["tasks"]["sst2"]["eval"]
    assert ev["n"] == 5 and ev["protocol"] == "loglik" and ev["precision"] == "fp32"
    assert 0 <= ev["base"] <= 1 and 0 <= ev["lora"] <= 1
    md = tmp_path / "zoo.md"
    r = dnd("zoo", "--list", str(zoo), "--markdown", str(md))
    assert r.returncode == 0, r.stderr
    row = next(line for line in md.read_text().splitlines() if line.startswith("| sst2 |"))
    assert f"| {100 * ev['base']:.1f} | {100 * ev['lora']:.1f} |" in row and "| loglik | 5 | fp32 |" in row
    assert (tmp_path / "zoo.json").exists()
