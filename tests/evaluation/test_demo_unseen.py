"""`dnd demo` on a tiny residual generator and registry tasks: its scoring path, the
calibrated columns, the cache, the chart, the closing note; the rule that picks the demo tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnd.evaluation import demo_unseen as D
from dnd.evaluation.calibration import calibrated_choice, estimate, label_set
from dnd.evaluation.scoring import evaluate_items
from dnd.fileio import read_json, write_json
from dnd.generator import config as C
from dnd.generator.generate import Generator
from dnd.lora.io import read_adapter
from dnd.lora.settings import LoraSettings
from dnd.lora.swap import AdapterModel
from dnd.tasks.registry import SUITES, get_task, load_pools


def test_demo_tasks_are_the_first_task_of_each_of_the_first_three_domains():
    tasks = D.demo_tasks()
    order = SUITES["unseen"]
    domains = [get_task(t).domain for t in tasks]
    assert len(tasks) == 3 and len(set(domains)) == 3 and tasks[0] == order[0]
    for t, d in zip(tasks, domains):  # nothing earlier in the suite shares its domain
        assert all(get_task(u).domain != d for u in order[: order.index(t)])
    assert sorted(order.index(t) for t in tasks) == [order.index(t) for t in tasks]


def test_demo_scores_base_dnd_and_the_reference_then_reads_its_cache(tiny_residual_generator, tmp_path,
                                                                     monkeypatch, capsys):
    s = D.UnseenDemoSettings(out=str(tmp_path / "demo"), generator=str(tiny_residual_generator),
                             tasks=("sst2", "bb_hyperbaton"), n_prompts=8, limit=4, answer_tokens=4)
    first = D.run_unseen_demo(s)
    printed = capsys.readouterr().out
    assert list(first["tasks"]) == ["sst2", "bb_hyperbaton"]
    for row in first["tasks"].values():
        assert {row[k]["n"] for k in ("base", "calibrated", "dnd", "dnd+calibrated", "multitask")} == {4}
        assert isinstance(row["example"]["dnd"], str) and row["example"]["answer"]
    assert "dnd generate --prompts my_prompts.txt --out my_adapter" in printed and "dnd serve" in printed
    assert "base+cal" in printed and "DnD+cal - base" in printed
    assert first["trained_on"] == ["sst2"] and "never saw" not in printed and "warning" in printed
    assert (tmp_path / "demo" / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert read_json(tmp_path / "demo" / "demo.json") == first

    # the multi-task column is the generator's reference on a base model of the reference's shape
    saved = read_json(tiny_residual_generator / C.CONFIG)
    gen = Generator.from_pretrained(tiny_residual_generator)
    run = AdapterModel(saved["base_model"]["name"], LoraSettings.from_json(saved["reference_lora"])).use(gen.reference)
    want = evaluate_items(run.model, run.tokenizer, load_pools("sst2")[1][:4], "loglik")
    assert first["tasks"]["sst2"]["multitask"]["accuracy"] == want.accuracy

    def refuse(*args, **kwargs):
        raise AssertionError("a rerun must read the cache")

    for name in ("evaluate_items", "generate_answers", "AdapterModel", "estimate"):
        monkeypatch.setattr(D, name, refuse)
    monkeypatch.setattr(Generator, "generate", refuse)
    second = D.run_unseen_demo(s)
    assert second["tasks"] == first["tasks"]


def _cached(demo: Path, kind: str, task: str, column: str) -> tuple[Path, dict]:
    (path,) = (demo / "cache").glob(f"{kind}*/**/{task}/{column}-*.json")
    return path, read_json(path)


def test_demo_calibrates_like_the_benchmark_from_the_cached_scores(tiny_residual_generator, tmp_path,
                                                                   monkeypatch, capsys):
    """Fixed labels: each calibrated column is its model's cached norms re-picked under the
    prior that the same model (adapter applied for DnD) shows on the first n_prompts train-pool
    prompts. Options varying per item: calibrated == plain, and the report says so."""
    s = D.UnseenDemoSettings(out=str(tmp_path / "demo"), generator=str(tiny_residual_generator),
                             tasks=("sst2", "bb_hyperbaton"), n_prompts=8, limit=4, answer_tokens=4)
    first = D.run_unseen_demo(s)
    printed = capsys.readouterr().out
    demo, sst2 = tmp_path / "demo", first["tasks"]["sst2"]
    saved = read_json(tiny_residual_generator / C.CONFIG)
    run = AdapterModel(saved["base_model"]["name"], LoraSettings.from_json(saved["adapter_lora"]),
                       precision=s.precision)
    items = load_pools("sst2")[1][:4]
    prompts = [it.prompt for it in load_pools("sst2")[0][:8]]
    dnd_state = read_adapter(next((demo / "adapters").glob("*/sst2")))
    priors = {}
    for plain, column, state in (("base", "calibrated", None), ("dnd", "dnd+calibrated", dnd_state)):
        cal = estimate(run.use(state).model, run.tokenizer, prompts, label_set(items), "batch", seed=0)
        _, piece = _cached(demo, "loglik", "sst2", plain)
        want = [int(it.choices[calibrated_choice(cal, it.choices, n)] == it.answer)
                for it, n in zip(items, piece["norm"])]
        assert sst2[column]["calibration"]["prior"] == list(cal.prior) and sst2[column]["correct"] == want
        assert sst2[column]["accuracy"] == sum(want) / 4 and sst2[plain]["correct"] == piece["correct"]
        assert _cached(demo, "calib", "sst2", plain)[1] == cal.to_json()  # each prior under its own key
        priors[column] = cal.prior
    assert priors["calibrated"] != priors["dnd+calibrated"]  # the adapter is applied while estimating
    assert sst2["calibration"] == "applied"

    varies = first["tasks"]["bb_hyperbaton"]
    assert varies["calibration"] == D.NOT_CALIBRATED and "(options vary per item: not calibrated)" in printed
    for plain, column in (("base", "calibrated"), ("dnd", "dnd+calibrated")):
        assert varies[column] == {**varies[plain], "calibration": None}
    assert not list((demo / "cache").glob("calib*/bb_hyperbaton/*"))

    # a score piece cached before calibration (no per-item norms) is recomputed, the prior is not
    path, piece = _cached(demo, "loglik", "sst2", "base")
    write_json(path, {k: v for k, v in piece.items() if k not in ("norm", "correct")})
    calls = []
    monkeypatch.setattr(D, "evaluate_items", lambda *a, **k: calls.append(1) or evaluate_items(*a, **k))
    monkeypatch.setattr(D, "estimate", lambda *a, **k: pytest.fail("the priors are cached"))
    again = D.run_unseen_demo(s)
    assert calls == [1] and read_json(path) == piece and again["tasks"] == first["tasks"]


def test_demo_cli_refuses_flags_of_the_other_path(capsys):
    from dnd.cli.main import main

    assert main(["demo", "--from-scratch", "--generator", "x"]) == 2
    assert "--generator" in capsys.readouterr().err
    assert main(["demo", "--from-scratch", "--precision", "bf16"]) == 2
    assert "--precision" in capsys.readouterr().err
    assert main(["demo", "--from-scratch", "--suite", "heldout"]) == 2
    assert "--suite" in capsys.readouterr().err
    assert main(["demo", "--suite", "nosuch"]) == 2
    assert "--suite nosuch: unknown" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--limit", "0"])


def test_demo_suite_takes_the_same_rule_on_another_suite():
    from dnd.tasks.registry import pick_tasks

    assert D.demo_tasks(suite="heldout") == pick_tasks("heldout", 3)
    assert len({get_task(t).domain for t in D.demo_tasks(suite="heldout")}) == 3


def test_demo_falls_back_to_wide_val_without_the_bigbench_cache(tmp_path, monkeypatch):
    from dnd.evaluation.demo_unseen import demo_tasks
    from dnd.tasks.registry import pick_tasks

    assert demo_tasks() == pick_tasks("unseen", 3)  # the session's (toy) BIG-bench cache is complete
    monkeypatch.setenv("DND_BIGBENCH", str(tmp_path / "absent"))
    assert demo_tasks() == pick_tasks("wide_val", 3) and not set(demo_tasks()) & set(pick_tasks("unseen", 3))
