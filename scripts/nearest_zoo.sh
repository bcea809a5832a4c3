#!/usr/bin/env bash
# The LoRAs behind the nearest-LoRA baseline of the unseen benchmark (issue 18) without the
# whole wide zoo: for each scored task of wide_val (12) and FAR_SUITE (30; default unseen, or
# heldout: see scripts/unseen_benchmark.sh), the `wide` task whose
# first 32 train-pool prompts are closest (dnd.evaluation.baselines.NearestTask, the retrieval
# `dnd benchmark --nearest-among wide` runs), and only those tasks' own LoRAs, trained by
# scripts/task_zoo.sh into ZOO beside the shipped generator's multi-task LoRA.
#
#   bash scripts/nearest_zoo.sh [ZOO_DIR]     (default runs/zoo-shipped-ref; rerun to resume)
#
# Then scripts/unseen_benchmark.sh scores the nearest LoRA (it passes --nearest-among wide
# when the zoo holds some but not all `wide` tasks).
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=${1:-runs/zoo-shipped-ref}
PY=${PY:-.venv/bin/python}
FAR_SUITE=${FAR_SUITE:-unseen}
TASKS=$($PY -c "
from dnd.evaluation.baselines import NearestTask
from dnd.tasks.registry import pick_tasks
near = NearestTask(pick_tasks('wide', None))
hits = {near(t) for t in pick_tasks('wide_val', 12) + pick_tasks('$FAR_SUITE', 30)}
print(','.join(t for t in pick_tasks('wide', None) if t in hits))")
echo "nearest wide tasks: $TASKS"
bash scripts/task_zoo.sh "$ZOO" "$TASKS"
