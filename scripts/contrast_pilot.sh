#!/usr/bin/env bash
# Does the contrastive objective make the generated adapters depend on the task? A small
# paired pilot (issue 21): two generators trained alike by scripts/train_cpu_generator.sh on
# the first TASKS_N (48) `wide` tasks (round-robin over domains), STEPS (300) steps, a delta
# on the top TOP (2) layers, ITEM_POOL (32) labeled items a task, one with the functional
# objective and one with the contrastive one (--contrast-weight 1, --contrast-margin 0.1);
# then the delta-diversity rung of each on the wide_val tasks (mean cosine between tasks'
# deltas, true vs shuffled condition): results/ladder/pilot-{functional,contrastive}.md.
# Only validation tasks are looked at. The two trainings run side by side, one thread each.
#   bash scripts/contrast_pilot.sh [RUN_ROOT]     (default runs/pilot; rerun to resume)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-runs/pilot}
PY=${PY:-.venv/bin/python}
TASKS=$($PY -c "from dnd.tasks.registry import pick_tasks; print(','.join(pick_tasks('wide', ${TASKS_N:-48})))")
export STEPS=${STEPS:-300} TOP=${TOP:-2} ITEM_POOL=${ITEM_POOL:-32} TASKS
for obj in functional contrastive; do
  [ -f "$ROOT/$obj/manifest.json" ] || OMP_NUM_THREADS=1 OBJECTIVE=$obj bash scripts/train_cpu_generator.sh "$ROOT/$obj" \
    > "$ROOT-$obj.log" 2>&1 &
done
wait
for obj in functional contrastive; do
  [ -f "$ROOT/$obj/manifest.json" ] || { echo "contrast_pilot: $obj did not finish (see $ROOT-$obj.log)" >&2; exit 1; }
  RUNGS=diversity bash scripts/generator_ladder.sh "$ROOT/$obj" "pilot-$obj"
done
