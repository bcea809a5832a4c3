#!/usr/bin/env bash
# A small zoo for the seen-task recovery rung (issue 21) on a machine without the wide zoo:
# the shipped generator's multi-task LoRA (scripts/shipped_reference_zoo.py) plus the own LoRA
# of the first N `wide` tasks that `dnd diagnose recovery` would pick (round-robin over the
# domains, every scored item with choices), trained by scripts/task_zoo.sh.
#
#   bash scripts/recovery_zoo.sh [ZOO_DIR] [N]     (default runs/zoo-recovery, 20; rerun to resume)
#
# Then: bash scripts/generator_ladder.sh GEN_DIR NAME ZOO_DIR   (RUNGS=recovery for that rung alone)
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=${1:-runs/zoo-recovery}
N=${2:-20}
PY=${PY:-.venv/bin/python}
TASKS=$($PY scripts/recovery_tasks.py "$N")
bash scripts/task_zoo.sh "$ZOO" "$TASKS"
