"""`dnd diagnose` on bad input: exit status 2, one line naming the flag, no traceback, and
nothing written or changed (the battery's contract, tests/cli/test_bad_input.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from dnd.cli.main import main


def snapshot(*roots: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for root in roots for p in sorted(Path(root).rglob("*"))
            if p.is_file()}


def zoo_variant(w, name: str, edit) -> Path:
    """A copy of the tiny zoo whose manifest `edit` changed."""
    zoo = Path(shutil.copytree(w["zoo"], w["tmp"] / name))
    manifest = json.loads((zoo / "manifest.json").read_text())
    edit(manifest)
    (zoo / "manifest.json").write_text(json.dumps(manifest))
    return zoo


def taken(w) -> Path:
    """A diagnostics root whose NAME `tiny` already describes another generator."""
    d = w["tmp"] / "diag" / "tiny"
    d.mkdir(parents=True)
    (d / "manifest.json").write_text(json.dumps({"format": "dnd-diagnostics/1", "files": {},
                                                 "generator": {"path": "runs/other", "fingerprint": "0" * 16}}))
    return d.parent


def div(w, *extra):
    return ["diagnose", "diversity", "--generator", w["gen"], "--suite", "short", "--tasks", "sst2,boolq",
            "--out", w["tmp"] / "diag", *extra]


def rec(w, *extra, zoo=None):
    return ["diagnose", "recovery", "--generator", w["gen"], "--zoo", zoo or w["zoo"], "--out", w["tmp"] / "diag",
            "--tasks", "2", "--limit", "2", *extra]


CASES = [
    ("generator-missing", lambda w: div(w)[:2] + ["--generator", w["tmp"] / "nope"] + div(w)[4:],
     ["--generator", "no such directory"]),
    ("generator-is-a-zoo", lambda w: div(w)[:2] + ["--generator", w["zoo"]] + div(w)[4:], ["--generator", "zoo"]),
    ("suite-unknown", lambda w: ["diagnose", "diversity", "--generator", w["gen"], "--suite", "nope"], ["--suite nope"]),
    ("tasks-outside-suite", lambda w: ["diagnose", "diversity", "--generator", w["gen"], "--suite", "short",
                                       "--tasks", "bb_navigate"], ["--tasks", "not in suite short"]),
    ("one-task", lambda w: ["diagnose", "diversity", "--generator", w["gen"], "--suite", "short", "--tasks", "sst2"],
     ["at least 2 tasks"]),
    ("max-tasks-0", lambda w: div(w, "--max-tasks", "0"), ["--max-tasks"]),
    ("name-with-a-path", lambda w: div(w, "--name", "../up"), ["--name", "plain name"]),
    ("out-is-a-file", lambda w: div(w)[:-1] + [w["file"]], ["--out", "is a file"]),
    ("out-is-a-generator", lambda w: div(w)[:-1] + [w["gen"]], ["--out", "already holds a generator"]),
    ("name-taken-by-another-generator", lambda w: div(w)[:-1] + [taken(w), "--name", "tiny"],
     ["--name tiny", "another generator", "runs/other"]),
    ("recovery-zoo-missing", lambda w: rec(w, zoo=w["tmp"] / "nozoo"), ["--zoo", "not a zoo"]),
    ("recovery-tasks-0", lambda w: rec(w, "--tasks", "0"), ["--tasks"]),
    ("recovery-limit-negative", lambda w: rec(w, "--limit", "-3"), ["--limit"]),
    ("recovery-precision", lambda w: rec(w, "--precision", "fp8"), ["--precision"]),
    ("recovery-multitask-missing", lambda w: rec(w, "--multitask", "nope"), ["--multitask nope", "not in zoo"]),
    ("recovery-zoo-without-its-tasks", lambda w: rec(w, zoo=zoo_variant(w, "z1", lambda m: m.update(tasks={}))),
     ["--zoo", "holds no LoRA of the generator's 2 training tasks"]),
    ("recovery-zoo-of-another-base-model",
     lambda w: rec(w, zoo=zoo_variant(w, "z2", lambda m: m["base_model"].update(weights_sha256="f" * 64))),
     ["--zoo", "different weights"]),
    ("recovery-name-taken", lambda w: rec(w)[:7] + [taken(w), "--name", "tiny"] + rec(w)[8:],
     ["--name tiny", "another generator"]),
    ("summary-before-any-rung", lambda w: ["diagnose", "summary", "--generator", w["gen"], "--out", w["tmp"] / "d"],
     ["no diagnostics of"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_diagnose_bad_input(case, tmp_path, tiny_zoo, tiny_generator, capsys):
    _, build, needles = case
    (tmp_path / "a_file").write_text("x")
    w = {"tmp": tmp_path, "zoo": tiny_zoo, "gen": tiny_generator, "file": tmp_path / "a_file"}
    argv = [str(a) for a in build(w)]
    before = snapshot(tmp_path, tiny_zoo, tiny_generator)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("dnd: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert snapshot(tmp_path, tiny_zoo, tiny_generator) == before  # nothing written, changed or lost


def test_diagnose_alone_prints_its_help(capsys):
    assert main(["diagnose"]) == 0
    out = capsys.readouterr().out
    assert "diversity" in out and "recovery" in out and "summary" in out
