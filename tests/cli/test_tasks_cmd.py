"""`dnd tasks` through the real command line: listing, showing, checking files, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from dnd.cli.main import main as dnd_main


def dnd(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "dnd.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def test_json_lists_every_task(capsys):
    # in-process: the pools other tests built are cached (a subprocess would build all 266 tasks again)
    assert dnd_main(["tasks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) >= 25
    by_name = {r["name"]: r for r in rows}
    for r in rows:
        assert {"name", "suite", "suites", "domain", "train", "eval", "answer_format"} <= set(r)
        assert r["suite"] == r["suites"][0] and r["train"] > 0 and r["eval"] > 0
    assert by_name["boolq"]["suites"] == ["commonsense", "short", "wide"]
    assert by_name["arc_c"]["eval"] >= 200


def test_table_for_one_suite():
    out = dnd("tasks", "--suite", "commonsense")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:2] == ["name", "suites"]
    names = [line.split()[0] for line in lines[1:-1]]
    assert names == ["arc_e", "arc_c", "boolq", "hellaswag", "piqa", "winogrande", "obqa"]
    assert lines[-1].startswith("7 tasks")


def test_listing_survives_a_missing_bigbench_cache(tmp_path):
    """Without the BIG-bench cache (the sdist left PyPI) the unseen tasks are listed with no
    pool sizes and one line says why, and the exit status stays 0."""
    env = dict(os.environ, DND_BIGBENCH=str(tmp_path / "no-cache"))
    run = lambda *a: subprocess.run([sys.executable, "-m", "dnd.cli", "tasks", *a], capture_output=True, text=True,
                                    timeout=300, env=env)
    out = run("--suite", "unseen")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 43 and all(re.search(r"\s-\s+-\s", line) for line in lines[1:-2])
    assert lines[-1].startswith("40 task(s) without data here (-): BIG-bench data is not cached in")
    rows = json.loads(run("--suite", "unseen", "--json").stdout)
    assert {r["train"] for r in rows} == {None} and all("bigbench_fetch" in r["missing"] for r in rows)


def test_show_prints_items():
    out = dnd("tasks", "--show", "sst2", "--n", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("--- eval item") == 2
    assert "Answer positive or negative." in out.stdout and "[answer] " in out.stdout


def test_check_labeled_and_unlabeled(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text('{"prompt": "a", "answer": "yes", "choices": ["yes", "no"]}\n{"prompt": "b", "answer": "x"}\n')
    out = dnd("tasks", "--check", f)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{f}: 2 rows, labeled (choices on 1)"
    g = tmp_path / "p.txt"
    g.write_text("one\ntwo\nthree\n")
    out = dnd("tasks", "--check", g)
    assert out.stdout.strip() == f"{g}: 3 rows, unlabeled"


BAD_FILES = {
    "invalid_json": ("bad.jsonl", '{"prompt": "a"}\n{"prompt": "b"\n', "bad.jsonl:2: invalid JSON"),
    "no_prompt": ("bad.jsonl", '{"prompt": "a"}\n{"answer": "yes"}\n', "bad.jsonl:2: missing 'prompt'"),
    "answer_not_in_choices": (
        "bad.jsonl", '{"prompt": "a", "answer": "maybe", "choices": ["yes", "no"]}\n', "bad.jsonl:1: answer 'maybe'"
    ),
    "empty": ("empty.jsonl", "", "empty.jsonl: empty file"),
}


def _assert_one_line_error(out, *needles):
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_task_file(tmp_path, case):
    name, text, needle = BAD_FILES[case]
    f = tmp_path / name
    f.write_text(text)
    _assert_one_line_error(dnd("tasks", "--check", f), str(tmp_path), needle)


def test_missing_file(tmp_path):
    _assert_one_line_error(dnd("tasks", "--check", tmp_path / "nope.jsonl"), "nope.jsonl: no such file")


def test_unknown_task_and_suite():
    _assert_one_line_error(dnd("tasks", "--show", "nosuch"), "unknown task 'nosuch'", "arc_e")
    _assert_one_line_error(dnd("tasks", "--suite", "nosuch"), "unknown suite 'nosuch'")
