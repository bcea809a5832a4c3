"""`dnd reproduce` end to end on a tiny model and three tasks, then again from the cache."""

import subprocess
import sys
import time

from dnd.evaluation.reproduce import training_tasks
from dnd.fileio import read_json

# --train-on zoo: each generator learns from the other two tasks (the whole suite would need 11)
ARGS = ["reproduce", "--suite", "short", "--tasks", "sst2,boolq,rte", "--train-on", "zoo", "--limit", "6",
        "--zoo-steps", "4", "--zoo-keep", "2", "--zoo-batch-size", "2", "--zoo-lr", "1e-2", "--zoo-max-length", "64",
        "--gen-steps", "4", "--gen-batch-size", "2", "--n-prompts", "8", "--hidden-channels", "8",
        "--icl-context", "256", "--batch-size", "8"]


def test_reproduce_end_to_end_and_cache(tmp_path, tiny_model):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "dnd.cli", *ARGS, "--out", str(out), "--base-model", tiny_model]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    first = time.time() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    for ext in ("md", "json", "png"):
        assert (out / f"short.{ext}").stat().st_size > 0
    results = read_json(out / "short.json")
    assert list(results["tasks"]) == ["boolq", "sst2", "rte"]  # suite order
    row = results["tasks"]["boolq"]
    assert row["train_tasks"] == ["sst2", "rte"] and row["nearest_task"] in ("sst2", "rte")
    for protocol in ("loglik", "generate"):
        p = row["protocols"][protocol]
        for key in ("base", "training_lora_mean", "training_lora_best", "average_lora", "nearest_lora",
                    "icl_1", "icl_k", "dnd", "full_shot"):
            assert 0.0 <= p[key] <= 1.0, key
    assert row["cost"]["dnd_s"] > 0 and row["cost"]["full_shot_s"] > 0
    md = (out / "short.md").read_text()
    assert "| **mean** |" in md and "DnD" in md
    # held-out task never in its generator's training set
    gen_cfg = read_json(out / "work" / "short" / "generators" / "boolq" / "generator_config.json")
    assert "boolq" not in gen_cfg["tasks"] and gen_cfg["holdout"] == ["boolq"]

    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert read_json(out / "short.json")["tasks"] == results["tasks"]
    assert time.time() - t0 < first  # nothing recomputed
    assert "already trained" in r.stdout

    # a run over a subset (e.g. one of two halves run side by side) keeps the other rows
    subset = [a if a != "sst2,boolq,rte" else "rte" for a in cmd]
    r = subprocess.run(subset, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert read_json(out / "short.json")["tasks"] == results["tasks"]


def test_training_tasks_are_the_suite_whatever_tasks_are_held_out():
    suite = ["boolq", "sst2", "rte", "mrpc"]
    assert training_tasks("rte", "suite", suite, ["rte", "sst2"]) == ["boolq", "sst2", "mrpc"]
    assert training_tasks("rte", "zoo", suite, ["rte", "sst2", "cb"]) == ["sst2", "cb"]
