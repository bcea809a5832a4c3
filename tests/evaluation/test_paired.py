"""Paired differences: a synthetic pair of methods that differ on known items."""

import pytest

from dnd.evaluation.paired import paired_difference


def pair(n_tasks: int, n_items: int, better: int):
    """B is right on every other item; A is right wherever B is, plus `better` more items a task."""
    b = {f"t{t}": [i % 2 for i in range(n_items)] for t in range(n_tasks)}
    a = {t: [1 if (i % 2 or (i // 2) < better) else 0 for i in range(n_items)] for t, v in b.items()}
    return a, b


def test_known_difference_is_recovered_and_resolved():
    a, b = pair(30, 100, better=5)  # A wins 5 items of 100 on every task: +5 points
    d = paired_difference(a, b)
    assert d.mean == pytest.approx(0.05)
    assert d.ci95[0] > 0 and d.ci95[0] <= 0.05 <= d.ci95[1]
    assert d.resolved and (d.wins, d.ties, d.losses) == (30, 0, 0)
    assert d.n_tasks == 30 and d.n_items == 3000
    flipped = paired_difference(b, a)
    assert flipped.mean == pytest.approx(-0.05) and flipped.resolved and flipped.losses == 30


def test_equal_methods_are_not_resolved():
    a, b = pair(10, 30, better=0)
    d = paired_difference(a, b)
    assert d.mean == 0 and d.ci95 == (0.0, 0.0) and not d.resolved and d.ties == 10


def test_mixed_tasks_give_an_interval_that_straddles_zero():
    a, b = pair(6, 40, better=4)
    for t in ("t0", "t1", "t2"):  # on half the tasks A loses the same items instead
        a[t] = [0 if (i // 2) < 4 else v for i, v in enumerate(b[t])]
    d = paired_difference(a, b)
    assert d.mean == pytest.approx(0.0, abs=1e-12)
    assert d.ci95[0] < 0 < d.ci95[1] and not d.resolved
    assert (d.wins, d.ties, d.losses) == (3, 0, 3)
    assert d.to_json()["resolved"] is False


def test_mismatched_items_are_refused():
    with pytest.raises(ValueError, match="task t0"):
        paired_difference({"t0": [1, 0]}, {"t0": [1]})
    with pytest.raises(ValueError, match="no task"):
        paired_difference({"t0": [1]}, {"t1": [1]})
