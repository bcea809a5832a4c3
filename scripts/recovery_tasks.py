"""The first N `wide` tasks that `dnd diagnose recovery` picks (round-robin over the domains,
every one of the first 100 eval-pool items with choices), comma-separated: the tasks of
scripts/recovery_zoo.sh and of the seen-task ablation (scripts/seen_task_ablation.sh).

    python scripts/recovery_tasks.py [N]     (default 20)
"""

from __future__ import annotations

import sys

from dnd.evaluation.recovery import seen_tasks
from dnd.tasks.registry import load_pools, pick_tasks


def recovery_tasks(n: int) -> list[str]:
    wide = pick_tasks("wide", None)
    picked = [t for t in seen_tasks(wide, set(wide)) if all(it.choices for it in load_pools(t)[1][:100])]
    return picked[:n]


if __name__ == "__main__":
    print(",".join(recovery_tasks(int(sys.argv[1]) if len(sys.argv) > 1 else 20)))
