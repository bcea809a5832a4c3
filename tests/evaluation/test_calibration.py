"""Label-free calibration on a tiny model: a planted label bias is divided out, per-item
options are left alone, labels are never read, and `dnd eval --calibrate` refuses bad files."""

import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from dnd.assets import load_base_model
from dnd.evaluation.calibration import (RULES, Calibration, calibrate_result, domain_texts, estimate, label_set,
                                        probabilities)
from dnd.evaluation.scoring import choice_logprobs, evaluate_items
from dnd.tasks.items import Item

CHOICES = ("yes", "no")
WORDS = "red blue cat dog tree river stone cloud apple house music paper glass road star moon".split()


def prompts(n: int, seed: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    return [" ".join(WORDS[i] for i in torch.randint(0, len(WORDS), (6,), generator=g)) + "?" for _ in range(n)]


@pytest.fixture(scope="module")
def biased(tiny_model):
    """The tiny model, its label-free preference margins on 60 prompts, and the same model
    with a planted bias: +6 on the logit of "yes" (a hook on the LM head)."""
    model, tok = load_base_model(tiny_model)
    texts = prompts(60, seed=1)
    scores = choice_logprobs(model, tok, [Item(prompt=t, choices=CHOICES) for t in texts])
    margin = [row[0][0] - row[1][0] for row in scores]  # log p(yes) - log p(no), unbiased
    yes = tok("yes", add_special_tokens=False)["input_ids"][0]

    def plant(module, inputs, output):
        output = output.clone()
        output[..., yes] += 6.0
        return output

    model.lm_head.register_forward_hook(plant)
    return model, tok, texts, margin


def items_of(texts, margin) -> list[Item]:
    """Labels follow the unbiased model's own preference, split at its median: a task the
    model can solve but for its bias."""
    cut = sorted(margin)[len(margin) // 2]
    return [Item(prompt=t, answer="yes" if m > cut else "no", choices=CHOICES) for t, m in zip(texts, margin)]


def test_calibration_removes_a_planted_label_bias(biased):
    model, tok, texts, margin = biased
    items = items_of(texts, margin)
    plain = evaluate_items(model, tok, items)
    assert all(p["prediction"] == "yes" for p in plain.predictions)  # the bias decides every item
    assert plain.accuracy == pytest.approx(0.5, abs=0.05)
    cal = estimate(model, tok, prompts(32, seed=2), CHOICES)  # other prompts of the task, no labels
    assert cal.prior[0] > 0.9 and sum(cal.prior) == pytest.approx(1.0)
    calibrated = calibrate_result(items, plain, cal)
    assert calibrated.accuracy >= plain.accuracy + 0.25
    assert all(p["calibrated"] for p in calibrated.predictions)


def test_calibration_never_reads_the_labels(biased):
    model, tok, texts, margin = biased
    items = items_of(texts, margin)
    swapped = [replace(it, answer="no" if it.answer == "yes" else "yes") for it in items]
    cal = estimate(model, tok, [it.prompt for it in items[:10]], CHOICES)
    cal_swapped = estimate(model, tok, [it.prompt for it in swapped[:10]], CHOICES)
    assert cal == cal_swapped
    a = calibrate_result(items, evaluate_items(model, tok, items), cal)
    b = calibrate_result(swapped, evaluate_items(model, tok, swapped), cal_swapped)
    assert [p["prediction"] for p in a.predictions] == [p["prediction"] for p in b.predictions]
    assert [p["norm"] for p in a.predictions] == [p["norm"] for p in b.predictions]
    assert a.correct + b.correct == len(items)  # only the count of correct picks reads the labels


def test_items_with_their_own_options_are_scored_as_before(biased):
    model, tok, texts, _ = biased
    items = [Item(prompt=t, answer="stone", choices=("stone", f"option {i}")) for i, t in enumerate(texts[:6])]
    assert label_set(items) is None
    plain = evaluate_items(model, tok, items)
    cal = Calibration("batch", CHOICES, (0.99, 0.01), 32)
    again = calibrate_result(items, plain, cal)
    assert [p["prediction"] for p in again.predictions] == [p["prediction"] for p in plain.predictions]
    assert not any(p["calibrated"] for p in again.predictions)


def test_label_set_probabilities_and_domain_texts():
    same = [Item("a", "x", ("x", "y")), Item("b", "y", ("y", "x"))]
    assert label_set(same) == ("x", "y")
    assert label_set(same + [Item("c", "x", ("x", "z"))]) is None
    cal = Calibration("batch", ("x", "y"), (0.8, 0.2), 4)
    p = probabilities(cal, ("y", "x"), [-1.0, -1.0])  # equal scores: the prior's minority wins
    assert sum(p) == pytest.approx(1.0) and p[0] > p[1]
    assert probabilities(None, ("x", "y"), [-1.0, -1.0]) == pytest.approx([0.5, 0.5])
    texts = domain_texts(["one two three four", "five six"], n=5, seed=0)
    assert len(texts) == 5 and all(len(t.split()) == 3 for t in texts)
    assert set(" ".join(texts).split()) <= {"one", "two", "three", "four", "five", "six"}
    assert Calibration.from_json(json.loads(json.dumps(cal.to_json()))) == cal


def test_cli_rule_names_match_the_library():
    from dnd.cli.benchmark_cmd import CALIBRATION_RULES

    assert CALIBRATION_RULES == RULES


def dnd(*args):
    return subprocess.run([sys.executable, "-m", "dnd.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def task_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "labeled.jsonl"
    rows = [{"prompt": p, "answer": "yes" if i % 2 else "no", "choices": list(CHOICES)}
            for i, p in enumerate(prompts(6, seed=3))]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_eval_calibrate_end_to_end(tmp_path, tiny_model, task_file):
    cal = tmp_path / "prompts.txt"
    cal.write_text("\n".join(prompts(8, seed=4)))
    r = dnd("eval", "--task-file", str(task_file), "--base-model", tiny_model, "--calibrate", str(cal), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["calibration"]["applied"] and out["calibration"]["n_prompts"] == 8
    assert out["calibration"]["choices"] == list(CHOICES) and sum(out["calibration"]["prior"]) == pytest.approx(1)
    assert all(it["calibrated"] for it in out["items"])
    # options that vary per item: scored as before, and the output says so
    varied = tmp_path / "varied.jsonl"
    varied.write_text("\n".join(json.dumps({"prompt": p, "answer": "a", "choices": ["a", f"b{i}"]})
                                for i, p in enumerate(prompts(3, seed=5))))
    r = dnd("eval", "--task-file", str(varied), "--base-model", tiny_model, "--calibrate", str(cal))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "calibration: not applied: the items' options vary per item" in r.stdout


@pytest.mark.parametrize("content, protocol, message", [
    (None, "loglik", "no such file"),
    ("", "loglik", "empty file"),
    ("first prompt\nsecond prompt\n", "generate", "use --protocol loglik"),
    ('{"prompt": "a", "choices": ["yes", "no"]}\n{"prompt": "b", "choices": ["up", "down"]}\n', "loglik",
     ":2: choices differ"),
])
def test_eval_calibrate_bad_files(tmp_path, tiny_model, task_file, content, protocol, message):
    path = tmp_path / ("prompts.jsonl" if content and content.startswith("{") else "prompts.txt")
    if content is not None:
        path.write_text(content)
    r = dnd("eval", "--task-file", str(task_file), "--base-model", tiny_model, "--protocol", protocol,
            "--calibrate", str(path))
    assert r.returncode == 2
    assert message in r.stderr and str(path) in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
