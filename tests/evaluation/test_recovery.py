"""Seen-task recovery (`dnd diagnose recovery`) end to end on the 2-task tiny zoo: every
method on the same items, the own LoRA and the fresh-prompt adapter really being what is
scored, the recovery arithmetic, and a rerun that scores nothing."""

from __future__ import annotations

import shutil

import pytest
import torch

from dnd.cli.main import main
from dnd.lora.io import read_adapter
from dnd.lora.swap import AdapterModel
from dnd.evaluation.recovery import RecoverySettings, run_recovery, seen_tasks
from dnd.evaluation.scoring import evaluate_items
from dnd.fileio import read_json
from dnd.generator.generate import Generator
from dnd.tasks.registry import load_pools
from dnd.lora.settings import LoraSettings

LIMIT = 4


@pytest.fixture(scope="module")
def zoo_with_multitask(tmp_path_factory, tiny_zoo, tiny_model):
    """A copy of the tiny zoo with a multi-task LoRA `wide` on both its tasks."""
    from dnd.zoo.build import ZooSettings
    from dnd.lora.train import TrainSettings
    from dnd.zoo.multitask import MultitaskSettings, build_multitask

    zoo = shutil.copytree(tiny_zoo, tmp_path_factory.mktemp("mtzoo") / "zoo")
    settings = ZooSettings(tasks=("sst2", "boolq"), out=str(zoo), base_model=tiny_model, keep=3,
                           lora=LoraSettings(r=4, lora_alpha=8),
                           train=TrainSettings(steps=3, batch_size=2, lr=1e-2, warmup_steps=1, max_length=64))
    build_multitask(MultitaskSettings("wide", settings, steps_factor=1))
    return zoo


def test_seen_tasks_round_robin_over_domains():
    gen_tasks = ["rte", "mrpc", "sst2", "boolq", "arc_e"]
    assert seen_tasks(gen_tasks, {"rte", "mrpc", "sst2", "arc_e"}) == ["rte", "sst2", "arc_e", "mrpc"]
    assert seen_tasks(gen_tasks, {"rte", "mrpc", "sst2", "arc_e"}, 2) == ["rte", "sst2"]


def test_recovery_end_to_end_and_resume(tmp_path, zoo_with_multitask, tiny_residual_generator, tiny_model, capsys):
    out = tmp_path / "diag"
    argv = ["diagnose", "recovery", "--generator", str(tiny_residual_generator), "--zoo", str(zoo_with_multitask),
            "--tasks", "2", "--limit", str(LIMIT), "--out", str(out), "--name", "res"]
    assert main(argv) == 0, capsys.readouterr().err
    assert "seen-task recovery over 2 training tasks" in capsys.readouterr().out
    r = read_json(out / "res" / "recovery.json")
    gen = Generator.from_pretrained(tiny_residual_generator)
    assert sorted(r["picked"]) == ["boolq", "sst2"] and r["method"] == "dnd:res"
    assert r["settings"]["seed"] == gen.config.train.seed + 1 and r["settings"]["multitask"] == "wide"
    assert r["scored_pieces"] == 2 * 5  # base, own, multi-task, DnD and the control on each task
    manifest = read_json(zoo_with_multitask / "manifest.json")
    own_model = AdapterModel(tiny_model, LoraSettings(r=4, lora_alpha=8))
    for i, (task, row) in enumerate(r["tasks"].items()):
        assert set(row["accuracy"]) == {"base", "full_shot", "multitask_lora", "dnd:res", "shuffled"}
        assert row["shuffled_from"] == r["picked"][(i + 1) % 2] and row["n_items"] == LIMIT
        assert all(len(c) == LIMIT and sum(c) / LIMIT == row["accuracy"][m] for m, c in row["correct"].items())
        acc = row["accuracy"]
        gain = acc["full_shot"] - acc["base"]
        assert row["recovery"] == (pytest.approx((acc["dnd:res"] - acc["base"]) / gain) if gain > 0 else None)
        # the own LoRA scored is the zoo's final checkpoint, on the first LIMIT eval-pool items
        items = load_pools(task)[1][:LIMIT]
        own = read_adapter(zoo_with_multitask / manifest["tasks"][task]["full_shot"]["path"])
        want = evaluate_items(own_model.use(own).model, own_model.tokenizer, items, "loglik")
        assert row["correct"]["full_shot"] == [int(p["correct"]) for p in want.predictions]
        # the DnD adapter: the generator on the train-pool prompts after those training read, another seed
        assert row["prompts"].startswith("fresh")
        pool = [it.prompt for it in load_pools(task)[0]]
        want_state = gen.generate(pool[gen.config.train.max_pool:], seed=gen.config.train.seed + 1)
        written = next((out / "work" / "recovery" / "adapters").glob(f"*/seed*/{task}"))
        assert all(torch.equal(read_adapter(written)[k], v) for k, v in want_state.items())
    s = r["summary"]
    col = {m: [row["accuracy"][m] for row in r["tasks"].values()] for m in ("base", "full_shot", "dnd:res")}
    own_gain = sum(o - b for o, b in zip(col["full_shot"], col["base"])) / 2
    dnd_gain = sum(d - b for d, b in zip(col["dnd:res"], col["base"])) / 2
    assert s["recovery"] == (pytest.approx(dnd_gain / own_gain) if own_gain > 0 else None)
    assert set(s["paired"]) >= {"dnd:res - base", "dnd:res - multitask_lora", "dnd:res - shuffled", "full_shot - base"}
    for d in s["paired"].values():
        assert d["n_tasks"] == 2 and d["n_items"] == 2 * LIMIT and d["ci95"][0] <= d["mean"] <= d["ci95"][1]
    assert s["paired"]["dnd:res - base"]["mean"] == pytest.approx(dnd_gain)
    assert len(s["targets"]) == 2 and all(isinstance(v, bool) for v in s["targets"].values())
    md = (out / "res" / "recovery.md").read_text()
    assert "# Seen-task recovery" in md and "DnD res" in md and "## Paired differences" in md
    assert read_json(out / "res" / "manifest.json")["files"].keys() == {"recovery.json", "recovery.md"}

    # a rerun scores nothing and rewrites no cached piece
    cache = out / "work" / "recovery"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    again = run_recovery(RecoverySettings(generator=str(tiny_residual_generator), zoo=str(zoo_with_multitask),
                                          out=str(out), name="res", n_tasks=2, limit=LIMIT))
    assert again["scored_pieces"] == 0 and again["tasks"] == r["tasks"]
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == before


def test_candidates_share_the_generator_free_pieces(tmp_path, zoo_with_multitask, tiny_residual_generator,
                                                    tiny_generator, tiny_zoo):
    """A second generator in the same root scores only its own adapters; a zoo without a
    multi-task LoRA leaves that method (and its recovery figure) out."""
    out = str(tmp_path / "diag")
    first = run_recovery(RecoverySettings(generator=str(tiny_residual_generator), zoo=str(zoo_with_multitask),
                                          out=out, name="res", n_tasks=2, limit=LIMIT))
    assert first["scored_pieces"] == 10
    second = run_recovery(RecoverySettings(generator=str(tiny_generator), zoo=str(tiny_zoo), out=out, name="basis",
                                           n_tasks=2, limit=LIMIT))
    assert second["scored_pieces"] == 2 * 2  # DnD and the control per task; base and own LoRA were cached
    for task, row in second["tasks"].items():
        assert set(row["accuracy"]) == {"base", "full_shot", "dnd:basis", "shuffled"}
        assert row["correct"]["base"] == first["tasks"][task]["correct"]["base"]
    assert "multitask_recovery" not in second["summary"] and "multitask_recovery" in first["summary"]


def test_ceiling_zoo_column(tmp_path, zoo_with_multitask, tiny_residual_generator, tiny_model, tiny_zoo, capsys):
    from dnd.lora.train import TrainSettings
    from dnd.zoo.build import ZooSettings, build_zoo

    ceiling = tmp_path / "top1"
    build_zoo(ZooSettings(tasks=("sst2",), out=str(ceiling), base_model=tiny_model, keep=1, top_layers=1,
                          lora=LoraSettings(r=4, lora_alpha=8),
                          train=TrainSettings(steps=3, batch_size=2, lr=1e-2, warmup_steps=1, max_length=64)))
    out = tmp_path / "diag"
    argv = ["diagnose", "recovery", "--generator", str(tiny_residual_generator), "--zoo", str(zoo_with_multitask),
            "--tasks", "2", "--limit", str(LIMIT), "--out", str(out), "--name", "res", "--ceiling-zoo", str(ceiling)]
    assert main(argv) == 0, capsys.readouterr().err
    r = read_json(out / "res" / "recovery.json")
    assert r["ceiling_zoo"]["top_layers"] == 1 and r["ceiling_zoo"]["tasks"] == 1
    assert "ceiling" in r["tasks"]["sst2"]["accuracy"] and "ceiling" not in r["tasks"]["boolq"]["accuracy"]
    # the ceiling column is the ceiling zoo's own LoRA on the same items
    items = load_pools("sst2")[1][:LIMIT]
    runner = AdapterModel(tiny_model, LoraSettings(r=4, lora_alpha=8))
    entry = read_json(ceiling / "manifest.json")["tasks"]["sst2"]
    want = evaluate_items(runner.use(read_adapter(ceiling / entry["full_shot"]["path"])).model, runner.tokenizer,
                          items, "loglik")
    assert r["tasks"]["sst2"]["correct"]["ceiling"] == [int(p["correct"]) for p in want.predictions]
    c, acc = r["summary"]["ceiling"], r["tasks"]["sst2"]["accuracy"]
    gain = acc["full_shot"] - acc["base"]
    assert c["n_tasks"] == 1
    assert c["recovery"] == (pytest.approx((acc["ceiling"] - acc["base"]) / gain) if gain > 1e-12 else None)
    assert "own LoRA, top layers only" in (out / "res" / "recovery.md").read_text()
    # a zoo trained on every layer is no ceiling zoo
    argv[-1] = str(tiny_zoo)
    assert main(argv) == 2
    assert "--top-layers" in capsys.readouterr().err
