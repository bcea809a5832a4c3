"""The `unseen` suite: BIG-bench tasks from the cached task.json files (fetched by `make setup`),
the fetch step on a toy archive, and the one-line errors for a missing or corrupt cache."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections import Counter

import pytest

from dnd.cli.main import main as dnd_main
from dnd.errors import DndError
from dnd.tasks import bigbench_cache as cache_mod
from dnd.tasks import bigbench_fetch as fetch_mod
from dnd.tasks import builders_bigbench as bb
from dnd.tasks import registry
from dnd.tasks.sources import MissingDataError

UNSEEN = registry.SUITES.get("unseen", [])
DOMAINS = {"nli", "sentiment/style", "reading", "science/medical", "commonsense", "knowledge", "math", "logic", "strings", "code"}


def test_unseen_suite_is_wide_and_eval_only():
    assert len(UNSEEN) >= 30
    assert UNSEEN == [t.name for t in bb.TASKS]
    assert len({registry.get_task(n).domain for n in UNSEEN}) >= 8
    assert cache_mod.is_cached(bb.required_files())  # `make setup` fetched every file the suite reads
    trained = {n for s, names in registry.SUITES.items() if s != "unseen" for n in names}
    for name in UNSEEN:
        spec = registry.get_task(name)
        assert name.startswith("bb_") and name not in trained
        assert spec.suites == ("unseen",) and spec.domain in DOMAINS
        assert spec.eval_only == bb.CANARY and spec.eval_size == bb.EVAL_SIZE
        with pytest.raises(registry.EvalOnlyError, match=name):
            registry.check_trainable(["sst2", name])


@pytest.mark.parametrize("name", UNSEEN)
def test_unseen_task_pools(name):
    spec = registry.get_task(name)
    train, evals = registry.load_pools(name)
    n = len(spec.build())
    assert (len(train), len(evals)) == registry.split_sizes(n, spec.eval_size, eval_only=True)
    if n >= 500:
        assert len(evals) >= 200
    assert len(train) >= min(registry.EVAL_ONLY_MIN_TRAIN, n - len(evals))
    assert not {it.prompt for it in train} & {it.prompt for it in evals}
    for it in train + evals:
        assert it.choices is not None and it.answer in it.choices
        assert len(set(it.choices)) == len(it.choices) >= 2
        assert len(it.prompt) <= bb.MAX_PROMPT_CHARS + 1000  # + option list and instruction
        assert it.prompt.splitlines()[-1].startswith("Answer ")
    # MC options are shuffled: the answer is not always in the same place.
    if spec.answer_format == "option text":
        assert len(Counter(it.choices.index(it.answer) for it in evals)) > 1


def test_pools_are_deterministic():
    names = ["bb_hyperbaton", "bb_logical_deduction"]
    before = [registry.load_pools(n) for n in names]
    bb.clear_caches()
    registry.clear_caches()
    assert [registry.load_pools(n) for n in names] == before


def test_letter_options_become_texts():
    train, _ = registry.load_pools("bb_hyperbaton")
    assert all(len(it.choices) == 2 and all(len(c.split()) >= 3 for c in it.choices) for it in train[:50])
    (train, _) = registry.load_pools("bb_navigate")
    assert {it.answer for it in train} == {"yes", "no"}


# ----------------------------------------------------------------- toy archive and cache


def _toy_tarball(path, tasks: dict[str, dict]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for task, content in tasks.items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(f"{fetch_mod.MEMBER_PREFIX}{task}/task.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        junk = tarfile.TarInfo("bigbench-1.0.0/setup.py")
        tar.addfile(junk, io.BytesIO(b""))
    return hashlib.sha256(path.read_bytes()).hexdigest()


TOY = {
    "toy": {
        "task_prefix": "Decide.",
        "examples": [
            {"input": "first", "target_scores": {"Yes": 1, "No": 0}},
            {"input": "second", "target_scores": {"Yes": 0, "No": 1}},
            {"input": "both", "target_scores": {"Yes": 1, "No": 1}},  # two correct
            {"input": "x" * 4000, "target_scores": {"Yes": 1, "No": 0}},  # too long
        ],
    },
    "toy/mc": {
        "examples": [
            {"input": "Pick a colour.", "target_scores": {"red": 1, "blue": 0, "green": 0}},
            {"input": "Pick a number.", "target_scores": {"1": 0, "2": 1}},
            {"input": "Pick twice.", "target_scores": {"a  b": 1, "a b": 0}},  # duplicate options
        ],
    },
}


@pytest.fixture()
def toy_cache(tmp_path, monkeypatch):
    """A DND_CACHE holding the toy tasks, fetched from a toy archive that passes the checksum."""
    tarball = tmp_path / "bigbench-1.0.0.tar.gz"
    monkeypatch.setattr(fetch_mod, "SDIST_SHA256", _toy_tarball(tarball, TOY))
    monkeypatch.setenv("DND_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(cache_mod.BIGBENCH_ENV)  # the session's toy cache (conftest.py) stays untouched
    cache_mod.clear_caches()
    assert "written" in fetch_mod.fetch(list(TOY), tarball=tarball)
    yield tmp_path / "cache" / "bigbench", tarball
    cache_mod.clear_caches()


def test_fetch_writes_only_the_wanted_files_and_is_idempotent(toy_cache):
    root, tarball = toy_cache
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "MANIFEST.json", "toy/mc/task.json", "toy/task.json"
    ]
    assert cache_mod.read_task_json("toy/mc") == TOY["toy/mc"]
    tarball.unlink()  # a complete cache never needs the archive again
    assert "complete" in fetch_mod.fetch(list(TOY), tarball=tarball)
    with pytest.raises(DndError, match="no such file"):
        fetch_mod.fetch(list(TOY), tarball=tarball, force=True)
    assert cache_mod.read_task_json("toy") == TOY["toy"]  # the failed refetch left the cache intact


def test_fetch_refuses_a_wrong_archive(toy_cache, tmp_path, monkeypatch):
    root, tarball = toy_cache
    monkeypatch.setattr(fetch_mod, "SDIST_SHA256", "0" * 64)
    with pytest.raises(DndError, match="SHA-256"):
        fetch_mod.fetch(["toy", "other"], tarball=tarball)
    monkeypatch.setattr(fetch_mod, "SDIST_SHA256", hashlib.sha256(tarball.read_bytes()).hexdigest())
    with pytest.raises(DndError, match="no task.json for other"):
        fetch_mod.fetch(["toy", "other"], tarball=tarball)
    assert not cache_mod.is_cached(["toy", "other"]) and cache_mod.is_cached(["toy"])


def test_fetch_from_a_checkout(tmp_path, monkeypatch, capsys):
    """A BIG-bench checkout stands in for the sdist: the same files, a manifest naming the folder."""
    tasks = tmp_path / "BIG-bench" / "bigbench" / "benchmark_tasks"
    for name, content in TOY.items():
        (tasks / name).mkdir(parents=True)
        (tasks / name / "task.json").write_text(json.dumps(content))
    monkeypatch.setenv(cache_mod.BIGBENCH_ENV, str(tmp_path / "cache"))
    cache_mod.clear_caches()
    try:
        with pytest.raises(DndError, match="no task.json for other"):
            fetch_mod.fetch(["toy", "other"], checkout=tmp_path / "BIG-bench")
        assert not (tmp_path / "cache").exists()  # nothing half-written
        with pytest.raises(DndError, match="not a BIG-bench checkout"):
            fetch_mod.fetch(["toy"], checkout=tmp_path)
        assert fetch_mod.main(["--from-dir", str(tasks.parent), "--tarball", "x.tar.gz"]) == 2
        assert "not both" in capsys.readouterr().err
        assert "written from" in fetch_mod.fetch(list(TOY), checkout=tasks.parent)  # the `bigbench` folder works too
        assert cache_mod.read_task_json("toy/mc") == TOY["toy/mc"]
        manifest = json.loads((tmp_path / "cache" / "MANIFEST.json").read_text())
        assert manifest["source"] == f"checkout {tasks.resolve()}" and sorted(manifest["files"]) == ["toy", "toy/mc"]
    finally:
        cache_mod.clear_caches()


def test_builder_rules_on_toy_tasks(toy_cache):
    task = bb.BBTask("bb_toy", "logic", "yes/no", ("toy", "toy/mc"), rename=bb.YES_NO, question="Well?")
    stats = Counter()
    items = bb._items(task, stats)
    assert stats == Counter({"examples": 7, "not one correct": 1, "too long": 1, "duplicate options": 1})
    labels = [it for it in items if it.choices == ("yes", "no")]
    assert [(it.prompt, it.answer) for it in labels] == [
        ("Decide.\nfirst\nWell?\nAnswer yes or no.", "yes"),
        ("Decide.\nsecond\nWell?\nAnswer yes or no.", "no"),
    ]
    mc = {it.answer: it for it in items if it not in labels}
    assert set(mc) == {"red", "2"}
    assert set(mc["red"].choices) == {"red", "blue", "green"}
    assert mc["red"].prompt.startswith("Pick a colour.\nWell?\nOptions:\n- ")
    assert mc["red"].prompt.endswith("Answer with the correct option's text.")
    assert bb._items(task, Counter()) == items  # the option order is a function of the prompt


def test_corrupt_cache_gives_one_line_error(toy_cache):
    root, _ = toy_cache
    path = root / "toy" / "task.json"
    data = bytearray(path.read_bytes())
    data[5] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(MissingDataError, match="corrupt.*bigbench_fetch --force"):
        cache_mod.read_task_json("toy")
    with pytest.raises(MissingDataError, match="'toy/other' is not in the cache"):
        cache_mod.read_task_json("toy/other")
    (root / "MANIFEST.json").write_text("{")
    cache_mod.clear_caches()
    with pytest.raises(MissingDataError, match="unreadable BIG-bench cache manifest"):
        cache_mod.read_task_json("toy")


def test_missing_cache_is_a_one_line_cli_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(cache_mod.BIGBENCH_ENV, str(tmp_path / "empty"))
    registry.clear_caches()
    cache_mod.clear_caches()
    try:
        assert dnd_main(["tasks", "--show", "bb_navigate"]) == 2
    finally:
        registry.clear_caches()
        cache_mod.clear_caches()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "BIG-bench data is not cached" in err and "python -m dnd.tasks.bigbench_fetch" in err


def test_fetch_command_reports_errors_on_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(cache_mod.BIGBENCH_ENV, str(tmp_path / "cache" / "bigbench"))
    assert fetch_mod.main(["--tarball", str(tmp_path / "nope.tar.gz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.tar.gz: no such file" in err
