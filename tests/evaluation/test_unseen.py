"""`dnd benchmark` end to end on a tiny model: every baseline and control, then from the cache."""

import subprocess
import sys

import pytest

from dnd.evaluation.unseen import random_text
from dnd.evaluation.unseen_report import bootstrap_ci, summarize
from dnd.fileio import read_json
from dnd.tasks.registry import pick_tasks

TASKS = "bb_navigate,bb_implicatures"


def dnd(*args):
    return subprocess.run([sys.executable, "-m", "dnd.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def zoo_and_generator(tmp_path_factory, tiny_model):
    """A two-task zoo with its multi-task LoRA, and a shared-head generator that is a
    residual over that multi-task LoRA (so its adapters have another rank than the zoo's)."""
    from dnd.generator import config as C
    from dnd.generator.condition import ConditionSettings
    from dnd.generator.train import train_generator

    tmp = tmp_path_factory.mktemp("bench")
    zoo = tmp / "zoo"
    args = ("zoo", "--tasks", "sst2,boolq", "--out", str(zoo), "--base-model", tiny_model, "--rank", "4",
            "--alpha", "8", "--steps", "3", "--keep", "2", "--batch-size", "2", "--max-length", "64")
    for extra in ((), ("--multitask", "mt", "--multitask-factor", "1")):  # the task LoRAs, then the multi-task one
        r = dnd(*args, *extra)
        assert r.returncode == 0, r.stderr
    config = C.GeneratorConfig(condition=ConditionSettings(n_prompts=4), decoder=C.DecoderSettings(hidden_channels=(8,)),
                               train=C.GenTrainSettings(steps=2, batch_size=2, warmup_steps=1, max_pool=16),
                               head=C.HeadSettings(width=8), reference=str(zoo / "_multitask" / "mt" / "adapter"))
    train_generator(zoo, tmp / "gen", config)
    return zoo, tmp / "gen"


def test_benchmark_end_to_end_and_cache(tmp_path, zoo_and_generator, tiny_generator):
    zoo, gen = zoo_and_generator
    out = tmp_path / "results"
    cmd = ["benchmark", "--suite", "unseen", "--tasks", TASKS, "--zoo", str(zoo), "--generator", f"res={gen}",
           "--generator", f"basis={tiny_generator}", "--multitask", "mt", "--limit", "4", "--sample-loras", "2",
           "--shots", "2", "--icl-context", "512", "--full-shot-steps", "2", "--out", str(out)]
    r = dnd(*cmd)
    assert r.returncode == 0, r.stderr[-3000:]
    results = read_json(out / "unseen.json")
    picked = pick_tasks("unseen", None)  # the report's order; --tasks only says which this run computes
    assert list(results["tasks"]) == [t for t in picked if t in TASKS.split(",")]
    for task, row in results["tasks"].items():
        assert set(row["accuracy"]) == {"base", "training_lora_mean", "average_lora", "nearest_lora", "multitask_lora",
                                        "icl_1", "icl_k", "full_shot", "dnd:res", "dnd:basis", "shuffled",
                                        "random_text", "calibrated", "calibrated_domain", "multitask_lora+calibrated",
                                        "dnd:res+calibrated", "dnd:basis+calibrated"}
        assert all(0.0 <= v <= 1.0 for v in row["accuracy"].values())
        assert row["calibration"] == "applied"  # yes/no tasks: one label set
        # per-item correctness of every method but the training-LoRA mean, for paired statistics
        assert set(row["correct"]) == set(row["accuracy"]) - {"training_lora_mean"}
        assert all(len(c) == 4 and sum(c) / 4 == row["accuracy"][m] for m, c in row["correct"].items())
        assert row["nearest_task"] in ("sst2", "boolq") and row["n_items"] == 4
        assert row["full_shot"]["steps"] == 2 and row["full_shot"]["final_loss"] > 0
    nxt = picked[picked.index("bb_navigate") + 1]
    assert results["tasks"]["bb_navigate"]["shuffled_from"] == nxt  # the next task in the pick order
    summ = results["summary"]
    assert summ["n_tasks"] == 2 and summ["best_label_free"] in summ["mean"]
    assert set(summ["dnd"]) == {"dnd:res", "dnd:basis", "dnd:res+calibrated", "dnd:basis+calibrated"}
    assert "true_minus_shuffled" in summ
    paired = summ["paired"]
    for key in ("dnd:res - base", "dnd:res - calibrated", "dnd:res - nearest_lora", "dnd:res - shuffled",
                "dnd:basis+calibrated - dnd:basis", "calibrated - base", "multitask_lora+calibrated - multitask_lora"):
        d = paired[key]
        assert d["n_tasks"] == 2 and d["n_items"] == 8 and d["wins"] + d["ties"] + d["losses"] == 2
        assert d["ci95"][0] <= d["mean"] <= d["ci95"][1]
    md = (out / "unseen.md").read_text()
    assert "DnD res" in md and "control: shuffled" in md and "Targets" in md
    assert "## Paired differences on the same items" in md and "DnD res + calibrated" in md
    targets = summ["paired_targets"]  # the primary generator, plain and calibrated, and its control
    assert len(targets) == 5 and all(isinstance(v, bool) for v in targets.values())
    assert "Targets (issue 21)" in md
    assert (out / "unseen.png").stat().st_size > 0
    # the residual generator wrote its reference's ranks plus its own
    cfg = read_json(out / "work" / "unseen" / "adapters" / "res" / "prompts" / "bb_navigate" / "adapter_config.json")
    assert cfg["r"] == 4 + 4

    work = out / "work" / "unseen"
    before = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}
    again = dnd(*cmd)
    assert again.returncode == 0, again.stderr[-3000:]
    assert read_json(out / "unseen.json")["tasks"] == results["tasks"]
    assert {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()} == before  # nothing recomputed
    # a first run with the full-shot reference on the first task only, widened to all tasks:
    # only the missing full-shot LoRA is trained
    first = min(picked.index(t) for t in TASKS.split(","))  # full-shot for the first picked tasks up to this one
    narrow = dnd(*cmd[:-2], "--full-shot-tasks", str(first + 1), "--out", str(tmp_path / "narrow"))
    assert narrow.returncode == 0, narrow.stderr[-3000:]
    rows = read_json(tmp_path / "narrow" / "unseen.json")["tasks"]
    assert ["full_shot" in r["accuracy"] for r in rows.values()] == [True, False]
    wide = dnd(*cmd[:-2], "--out", str(tmp_path / "narrow"))
    assert wide.returncode == 0, wide.stderr[-3000:]
    rows = read_json(tmp_path / "narrow" / "unseen.json")["tasks"]
    assert all("full_shot" in r["accuracy"] for r in rows.values())
    # a run over one of the tasks (e.g. halves run side by side) still reports both
    half = [a if a != TASKS else "bb_navigate" for a in cmd]
    assert dnd(*half).returncode == 0
    assert read_json(out / "unseen.json")["tasks"] == results["tasks"]


def test_benchmark_refuses_scoring_a_task_a_model_trained_on(tmp_path, zoo_and_generator):
    zoo, gen = zoo_and_generator
    r = dnd("benchmark", "--suite", "short", "--tasks", "sst2", "--zoo", str(zoo), "--generator", f"g={gen}",
            "--multitask", "mt", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "trained on scored task boolq" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_zoo_holding_only_its_multitask_lora(tmp_path, zoo_and_generator):
    """A multi-task LoRA brought back without its zoo's task LoRAs (the GPU run) is scored as a
    baseline; the baselines that need task LoRAs are refused in one line."""
    import json
    import shutil

    zoo, _ = zoo_and_generator
    only = tmp_path / "mt_only"
    shutil.copytree(zoo / "_multitask", only / "_multitask")
    manifest = json.loads((zoo / "manifest.json").read_text())
    manifest["tasks"] = {}
    (only / "manifest.json").write_text(json.dumps(manifest))
    common = ("benchmark", "--suite", "unseen", "--tasks", "bb_navigate", "--zoo", str(only),
              "--multitask", "mt", "--limit", "4", "--out", str(tmp_path / "r"))
    r = dnd(*common, "--methods", "base,multitask")
    assert r.returncode == 0, r.stderr
    row = read_json(tmp_path / "r" / "unseen.json")["tasks"]["bb_navigate"]
    assert set(row["accuracy"]) == {"base", "multitask_lora"}
    r = dnd(*common, "--methods", "base,average")
    assert r.returncode == 2 and "holds no task LoRAs" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_pick_tasks_round_robin_over_domains():
    picked = pick_tasks("unseen", 10)
    from dnd.tasks.registry import get_task

    assert len({get_task(t).domain for t in picked}) == 10  # one per domain first
    assert pick_tasks("unseen", None)[:10] == picked and len(pick_tasks("unseen", None)) == 40


def test_summary_counts_wins_and_gap():
    rows = {"a": {"accuracy": {"base": 0.5, "multitask_lora": 0.5, "full_shot": 0.9, "dnd:g": 0.7, "shuffled": 0.6}},
            "b": {"accuracy": {"base": 0.4, "multitask_lora": 0.6, "full_shot": 0.8, "dnd:g": 0.6, "shuffled": 0.6}}}
    s = summarize({"tasks": rows, "primary": "g"})
    assert s["best_label_free"] == "multitask_lora"
    d = s["dnd"]["dnd:g"]
    assert d["wins"]["multitask_lora"] == 1 and d["ties"]["multitask_lora"] == 1
    assert d["margin_over_best"] == pytest.approx(0.1)
    assert d["gap_closed"] == pytest.approx(0.1 / 0.3)
    assert s["true_minus_shuffled"] == pytest.approx(0.05)
    assert s["targets"]["mean >= best label-free + 3 points"] and not s["targets"]["ahead of it on >= 60% of tasks"]


def test_bootstrap_interval_brackets_the_mean():
    lo, hi = bootstrap_ci([0.1, 0.5, 0.9, 0.3])
    assert lo < 0.45 < hi and bootstrap_ci([0.5] * 5) == (0.5, 0.5)


def test_random_text(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    noise = random_text(tok, ["hello there", "a longer prompt with words"], seed=1)
    assert len(noise) == 2 and noise == random_text(tok, ["hello there", "a longer prompt with words"], seed=1)
    assert noise != random_text(tok, ["hello there", "a longer prompt with words"], seed=2)


def test_summary_of_a_method_scored_on_a_subset():
    rows = {"a": {"accuracy": {"multitask_lora": 0.5, "dnd:g": 0.7, "full_shot": 0.9}},
            "b": {"accuracy": {"multitask_lora": 0.3, "dnd:g": 0.2}}}
    s = summarize({"tasks": rows, "primary": "g"})
    assert "full_shot" not in s["mean"] and s["mean"]["dnd:g"] == pytest.approx(0.45)
    assert s["subset"]["tasks"] == ["a"] and s["subset"]["mean"]["dnd:g"] == pytest.approx(0.7)
    assert s["dnd"]["dnd:g"]["gap_closed"] == pytest.approx(0.5)  # (0.7 - 0.5) / (0.9 - 0.5), on task a only


def test_generate_protocol_reports_beside_loglik(tmp_path, zoo_and_generator):
    """--protocol generate: greedy answers, its own report and rows; calibration is loglik-only."""
    zoo, gen = zoo_and_generator
    common = ("benchmark", "--suite", "unseen", "--tasks", "bb_navigate", "--zoo", str(zoo), "--multitask", "mt",
              "--generator", f"res={gen}", "--limit", "3", "--out", str(tmp_path / "r"),
              "--methods", "base,multitask,dnd,calibrated")
    r = dnd(*common, "--protocol", "generate")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "unseen-generate.md" in r.stdout and not (tmp_path / "r" / "unseen.json").exists()
    results = read_json(tmp_path / "r" / "unseen-generate.json")
    row = results["tasks"]["bb_navigate"]
    assert results["protocol"] == "generate" and row["protocol"] == "generate"
    assert set(row["accuracy"]) == {"base", "multitask_lora", "dnd:res"}
    assert "greedy decoding" in (tmp_path / "r" / "unseen-generate.md").read_text()
    r = dnd(*common)  # the loglik run beside it keeps its own rows
    assert r.returncode == 0, r.stderr[-3000:]
    loglik = read_json(tmp_path / "r" / "unseen.json")["tasks"]["bb_navigate"]
    assert "calibrated" in loglik["accuracy"] and "protocol" not in loglik
    cached = sorted(p.parent.name for p in (tmp_path / "r" / "work" / "unseen" / "cache").glob("*/bb_navigate.json"))
    assert cached == ["rows", "rows-generate"]


def test_nearest_among_a_whole_task_set(tmp_path, zoo_and_generator):
    """--nearest-among SET retrieves among every task of SET, so the zoo needs only the LoRAs
    retrieved (scripts/nearest_zoo.sh): a zoo lacking the retrieved task's LoRA is refused in
    one line naming it; one holding it scores that LoRA as the nearest one."""
    import json
    import shutil

    from dnd.errors import DndError
    from dnd.evaluation.baselines import NearestTask

    zoo, _ = zoo_and_generator
    near = NearestTask(pick_tasks("short", None))(task := "bb_navigate")
    with pytest.raises(DndError, match="among its own candidates"):
        NearestTask(["sst2", "boolq"])("sst2")
    manifest = json.loads((zoo / "manifest.json").read_text())

    def zoo_with(name: str):  # the sst2 LoRA filed under `name`: the zoo holds that one task
        d = tmp_path / f"zoo_{name}"
        shutil.copytree(zoo, d)
        m = dict(manifest, tasks={name: manifest["tasks"]["sst2"]})
        (d / "manifest.json").write_text(json.dumps(m))
        return d

    common = ("benchmark", "--suite", "unseen", "--tasks", task, "--multitask", "mt", "--limit", "4",
              "--methods", "base,nearest", "--nearest-among", "short")
    other = "rte" if near != "rte" else "cb"
    r = dnd(*common, "--zoo", str(zoo_with(other)), "--out", str(tmp_path / "r1"))
    assert r.returncode == 2 and f"lacks the LoRA of {near}, the nearest of {task}" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = dnd(*common, "--zoo", str(zoo_with(near)), "--out", str(tmp_path / "r2"))
    assert r.returncode == 0, r.stderr[-3000:]
    results = read_json(tmp_path / "r2" / "unseen.json")
    assert results["tasks"][task]["nearest_task"] == near and results["settings"]["nearest_among"] == "short"
    assert "among all short tasks" in (tmp_path / "r2" / "unseen.md").read_text()
    r = dnd(*common[:-1], "nope", "--zoo", str(zoo), "--out", str(tmp_path / "r3"))
    assert r.returncode == 2 and "--nearest-among nope: not a task set" in r.stderr
