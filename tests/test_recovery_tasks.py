"""scripts/recovery_tasks.py: the training tasks of the seen-task recovery rung, as
`dnd diagnose recovery` picks them (round-robin over domains, choices on every scored item)."""

import subprocess
import sys
from pathlib import Path

from dnd.tasks.registry import TASKS, load_pools, pick_tasks

ROOT = Path(__file__).resolve().parents[1]


def test_tasks_are_wide_loglik_tasks_spread_over_domains():
    r = subprocess.run([sys.executable, "scripts/recovery_tasks.py", "12"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tasks = r.stdout.strip().split(",")
    assert len(tasks) == len(set(tasks)) == 12
    wide = set(pick_tasks("wide", None))
    assert all(t in wide and all(it.choices for it in load_pools(t)[1][:100]) for t in tasks)
    # round-robin: the first tasks come from different domains
    first = [TASKS[t].domain for t in tasks[:5]]
    assert len(set(first)) == 5, first
