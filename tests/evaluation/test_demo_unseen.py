"""`dnd demo` on a tiny residual generator and registry tasks: its scoring path, the cache,
the chart, the closing note; the rule that picks the demo tasks."""

from __future__ import annotations

import pytest

from dnd.evaluation import demo_unseen as D
from dnd.evaluation.adapters import AdapterModel
from dnd.evaluation.scoring import evaluate_items
from dnd.fileio import read_json
from dnd.generator import config as C
from dnd.generator.generate import Generator
from dnd.tasks.registry import SUITES, get_task, load_pools
from dnd.zoo.lora import LoraSettings


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
                             tasks=("sst2", "boolq"), n_prompts=8, limit=4, answer_tokens=4)
    first = D.run_unseen_demo(s)
    printed = capsys.readouterr().out
    assert list(first["tasks"]) == ["sst2", "boolq"]
    for row in first["tasks"].values():
        assert {row[k]["n"] for k in ("base", "dnd", "multitask")} == {4}
        assert isinstance(row["example"]["dnd"], str) and row["example"]["answer"]
    assert "dnd generate --prompts my_prompts.txt --out my_adapter" in printed and "dnd serve" in printed
    assert first["trained_on"] == ["boolq", "sst2"] and "never saw" not in printed and "warning" in printed
    assert (tmp_path / "demo" / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert read_json(tmp_path / "demo" / "demo.json") == first

    # the multi-task column is the generator's reference on a base model of the reference's shape
    saved = read_json(tiny_residual_generator / C.CONFIG)
    gen = Generator.from_pretrained(tiny_residual_generator)
    run = AdapterModel(saved["base_model"]["name"], LoraSettings.from_json(saved["reference_lora"])).use(gen.reference)
    want = evaluate_items(run.model, run.tokenizer, load_pools("boolq")[1][:4], "loglik")
    assert first["tasks"]["boolq"]["multitask"]["accuracy"] == want.accuracy

    def refuse(*args, **kwargs):
        raise AssertionError("a rerun must read the cache")

    for name in ("evaluate_items", "generate_answers", "AdapterModel"):
        monkeypatch.setattr(D, name, refuse)
    monkeypatch.setattr(Generator, "generate", refuse)
    second = D.run_unseen_demo(s)
    assert second["tasks"] == first["tasks"]


def test_demo_cli_refuses_flags_of_the_other_path(capsys):
    from dnd.cli.main import main

    assert main(["demo", "--from-scratch", "--generator", "x"]) == 2
    assert "--generator" in capsys.readouterr().err
    assert main(["demo", "--from-scratch", "--precision", "bf16"]) == 2
    assert "--precision" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--limit", "0"])
