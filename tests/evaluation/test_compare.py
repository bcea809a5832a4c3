"""`dnd diagnose compare`: two candidates' recovery rungs paired on the same items."""

from __future__ import annotations

import pytest

from dnd.cli.main import main
from dnd.evaluation.compare import compare_recovery
from dnd.fileio import write_json

BASE = [0, 1, 0, 1, 0, 1, 0, 1, 0, 0]
OWN = [1] * 10


def _rung(out, name, dnd_correct: dict, base=BASE):
    tasks = {}
    for task, dnd in dnd_correct.items():
        correct = {"base": base, "full_shot": OWN, f"dnd:{name}": dnd, "shuffled": base}
        tasks[task] = {"correct": correct, "accuracy": {m: sum(c) / len(c) for m, c in correct.items()}}
    write_json(out / name / "recovery.json", {"method": f"dnd:{name}", "tasks": tasks})


def test_paired_difference_of_known_items(tmp_path):
    # A gets 3 more items right than B on t1 and 1 more on t2; B alone has t3
    _rung(tmp_path, "a", {"t1": [1] * 7 + [0] * 3, "t2": [1] * 5 + [0] * 5})
    _rung(tmp_path, "b", {"t1": [1] * 4 + [0] * 6, "t2": [1] * 4 + [0] * 6, "t3": OWN})
    c = compare_recovery(tmp_path, "a", "b")
    assert c["tasks"] == ["t1", "t2"]
    d = c["paired"]["dnd"]
    assert d["mean"] == pytest.approx((0.3 + 0.1) / 2) and d["wins"] == 2 and d["n_items"] == 20
    assert c["paired"]["shuffled"]["mean"] == 0
    # recovery on the common tasks: (DnD - base) / (own - base), base 0.4, own 1.0
    assert c["recovery"]["a"] == pytest.approx(((0.7 - 0.4) + (0.5 - 0.4)) / 1.2)
    assert c["recovery"]["b"] == pytest.approx(((0.4 - 0.4) + (0.4 - 0.4)) / 1.2)


def test_other_items_and_missing_rungs_are_refused(tmp_path, capsys):
    _rung(tmp_path, "a", {"t1": OWN})
    _rung(tmp_path, "b", {"t1": OWN}, base=[1] + BASE[1:])
    assert main(["diagnose", "compare", "a", "b", "--out", str(tmp_path)]) == 2
    assert "other items" in capsys.readouterr().err
    assert main(["diagnose", "compare", "a", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and len(err.strip().splitlines()) == 1
    _rung(tmp_path, "c", {"t1": [0] * 10})
    assert main(["diagnose", "compare", "a", "c", "--out", str(tmp_path)]) == 0
    assert "| dnd | +100.0 |" in capsys.readouterr().out
