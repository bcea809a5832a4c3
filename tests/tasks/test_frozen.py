"""Frozen pools: `dnd tasks --export-pools` writes what `load_pools` returns, and
DND_POOLS makes `load_pools` read a task from that file instead of building it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dnd.errors import DndError
from dnd.tasks import registry
from dnd.tasks.frozen import POOLS_ENV, export_pools
from dnd.tasks.items import Item


@pytest.fixture
def fresh_pools():
    registry.clear_caches()
    yield
    registry.clear_caches()


def test_frozen_file_replaces_the_named_task_only(tmp_path, monkeypatch, fresh_pools):
    train = (Item("frozen train prompt", "yes", ("yes", "no")), Item("open question", "42"))
    evals = (Item("frozen eval prompt", "no", ("yes", "no")),)
    path = tmp_path / "pools.json"
    export_pools({"sst2": (train, evals)}, str(path))
    monkeypatch.setenv(POOLS_ENV, str(path))
    got_train, got_eval = registry.load_pools("sst2")
    assert got_train == list(train) and got_eval == list(evals)  # choices come back as tuples
    built = registry.load_pools("rte")  # not in the file: built from its package as usual
    assert len(built[1]) > 50 and built[1][0].prompt != "frozen eval prompt"


def test_export_cli_round_trips_the_built_pools(tmp_path, monkeypatch, fresh_pools):
    path = tmp_path / "out.json"
    out = subprocess.run([sys.executable, "-m", "dnd.cli", "tasks", "--tasks", "rte,sst2", "--export-pools", str(path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "pools of 2 task(s)" in out.stdout
    data = json.loads(path.read_text())
    assert sorted(data["tasks"]) == ["rte", "sst2"]
    built = registry.load_pools("rte")
    monkeypatch.setenv(POOLS_ENV, str(path))
    registry.clear_caches()
    assert registry.load_pools("rte") == built  # same items, same order, same split


def test_export_needs_tasks_and_a_file_path(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dnd.cli", "tasks", "--export-pools", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "--export-pools needs --suite or --tasks" in out.stderr
    out = subprocess.run([sys.executable, "-m", "dnd.cli", "tasks", "--tasks", "rte", "--export-pools", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "is a directory" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("content", ["not json", '{"format": "other", "tasks": {}}', '{"format": "dnd-pools/1"}'])
def test_a_broken_pools_file_is_one_clear_error(tmp_path, monkeypatch, fresh_pools, content):
    path = tmp_path / "pools.json"
    path.write_text(content)
    monkeypatch.setenv(POOLS_ENV, str(path))
    with pytest.raises(DndError, match=r"\$DND_POOLS .*pools.json: not a frozen-pools file"):
        registry.load_pools("sst2")
