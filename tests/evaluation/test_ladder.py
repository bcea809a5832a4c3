"""The ladder's summary (dnd.evaluation.ladder_report) on reports of known outcome, and
scripts/generator_ladder.sh end to end on the tiny fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dnd.evaluation import recovery, unseen_report
from dnd.evaluation.ladder_report import summarize
from dnd.fileio import read_json, write_json

ROOT = Path(__file__).resolve().parents[2]


def rows(accuracy: dict[str, list[int]], n_tasks: int = 3) -> dict:
    """n_tasks identical task rows whose methods answer `accuracy[m]` (per-item 0/1)."""
    return {f"t{i}": {"n_items": 10, "accuracy": {m: sum(c) / len(c) for m, c in accuracy.items()},
                      "correct": dict(accuracy)} for i in range(n_tasks)}


def benchmark(dnd: list[int]) -> dict:
    r = {"tasks": rows({"base": [0] * 5 + [1] * 5, "calibrated": [0] * 5 + [1] * 5, "multitask_lora": [0] * 4 + [1] * 6,
                        "dnd:cand": dnd, "shuffled": [0] * 6 + [1] * 4}),
         "primary": "cand", "command": "dnd benchmark ...", "settings": {"limit": 10}}
    r["summary"] = unseen_report.summarize(r)
    return r


def test_summary_marks_each_rung(tmp_path):
    d, gen = tmp_path / "cand", tmp_path / "gen"
    d.mkdir()
    gen.mkdir()
    write_json(d / "diversity.json", {"tasks": {"a": {}, "b": {}}, "pairwise": {"mean": 0.5}, "shuffled": {"mean": 0.95},
                                      "line": "delta diversity over 2 tasks", "command": "dnd diagnose diversity"})
    rec = {"method": "dnd:cand", "command": "dnd diagnose recovery",
           "tasks": rows({"base": [0] * 10, "full_shot": [1] * 10, "multitask_lora": [1] * 5 + [0] * 5,
                          "dnd:cand": [1] * 8 + [0] * 2, "shuffled": [1] * 2 + [0] * 8})}
    rec["summary"] = recovery.summarize(rec)
    assert abs(rec["summary"]["recovery"] - 0.8) < 1e-9 and abs(rec["summary"]["multitask_recovery"] - 0.5) < 1e-9
    write_json(d / "recovery.json", rec)
    write_json(d / "wide_val.json", benchmark([1] * 10))  # far ahead of every baseline and of its control
    write_json(d / "unseen.json", benchmark([0] * 5 + [1] * 5))  # level with base: the targets are missed
    curve = [{"step": 10 * i, "heldout_loss": 2.0 - 0.05 * i + (0.3 if i > 20 else 0)} for i in range(25)]
    curve[-1]["heldout_loss_shuffled"] = 1.3  # the shuffled control, where the loop measured it
    curve[0]["per_task"] = {"a": 2.5, "b": 1.5}
    curve[-1].update(per_task={"a": 1.2, "b": 1.0}, per_task_shuffled={"a": 1.9, "b": 0.7})
    write_json(gen / "learning_curve.json", curve)
    write_json(gen / "losses.json", [1.0] * 10 + [0.5] * 10)
    md = summarize(d, gen, "cand")
    table = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]] for ln in md.splitlines()
             if ln.startswith("| ") and "---" not in ln and not ln.startswith("| rung")}
    assert table["delta diversity"][2] == "met" and table["delta diversity"][3].endswith("0.950 (target < 0.9): **missed**")
    assert table["seen-task recovery"][0].startswith("80% of the own-LoRA gain") and table["seen-task recovery"][2] == "met"
    assert table["seen-task recovery"][3].startswith("+60.0 points")  # DnD 80% minus shuffled 20%
    assert table["seen-task recovery"][3].endswith(": met")
    assert table["near-unseen (wide_val)"][2] == "met" and table["near-unseen (wide_val)"][3].startswith("+60.0 points")
    assert table["far-unseen (unseen)"][2] == "**missed**" and "vs multi-task LoRA -10.0" in table["far-unseen (unseen)"][0]
    # +10 over its control on every task, but an item draw can tie: the interval reaches 0, the control target is missed
    assert table["far-unseen (unseen)"][3] == "+10.0 points (+0.0 to +23.3; 3/0/0): **missed**"
    assert "| 240 | 1.1000 | 1.3000 | +0.2000 |" in md and "lowest 1.0000 at step 200" in md  # 10 of 25, the last kept
    assert "| 0 | 2.0000 | - | - |" in md
    assert "| a | 2.500 | 1.200 | 1.900 |" in md and "| b | 1.500 | 1.000 | 0.700 |" in md  # first, last, shuffled
    assert "first tenth 1.0000, last tenth 0.5000" in md


def test_summary_of_a_candidate_with_nothing_run_yet(tmp_path):
    (tmp_path / "c").mkdir()
    md = summarize(tmp_path / "c", tmp_path, "c")
    assert md.count("not run") == 4 and "No learning_curve.json" in md


def test_summary_reads_the_heldout_far_rung(tmp_path):
    # FAR_SUITE=heldout writes heldout.json: the far rung is read from it (unseen's row only where run)
    (tmp_path / "c").mkdir()
    write_json(tmp_path / "c" / "heldout.json", benchmark([0] * 5 + [1] * 5))
    md = summarize(tmp_path / "c", tmp_path, "c")
    assert "| far-unseen (heldout) | 3 tasks: vs multi-task LoRA -10.0" in md and "far-unseen (unseen)" not in md
    write_json(tmp_path / "c" / "unseen.json", benchmark([0] * 5 + [1] * 5))
    md = summarize(tmp_path / "c", tmp_path, "c")
    assert "| far-unseen (unseen) |" in md and "| far-unseen (heldout) |" in md


def test_the_ladder_script_end_to_end(tmp_path, tiny_generator, tiny_residual_generator, tiny_zoo):
    env = {**os.environ, "OUT": str(tmp_path / "ladder"), "LIMIT": "2", "JOBS": "1", "RECOVERY_TASKS": "2",
           "NEAR_TASKS": "2", "FAR_TASKS": "2", "DIVERSITY_TASKS": "2", "NEAREST_AMONG": "",  # the tiny zoo's own tasks
           "DND": f"{sys.executable} -m dnd.cli",
           "PY": sys.executable, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    script = ROOT / "scripts" / "generator_ladder.sh"
    r = subprocess.run(["bash", str(script), str(tiny_generator), "cand", str(tiny_zoo)], env=env, cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    d = tmp_path / "ladder" / "cand"
    for stem in ("diversity", "recovery", "wide_val", "unseen"):
        assert (d / f"{stem}.json").exists(), stem
    assert read_json(d / "wide_val.json")["settings"]["generators"] == [["cand", str(tiny_generator)]]
    assert set(read_json(d / "manifest.json")["files"]) >= {"diversity.json", "recovery.json", "wide_val.json",
                                                            "unseen.json", "wide_val.md", "unseen.md"}
    md = (tmp_path / "ladder" / "cand.md").read_text()
    assert "not run" not in md and md.count("| met |") + md.count("| **missed** |") == 4
    # the NAME is the generator's: another generator under it is refused before any rung runs
    r = subprocess.run(["bash", str(script), str(tiny_residual_generator), "cand"], env=env, cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "holds the diagnostics of another generator" in r.stderr
