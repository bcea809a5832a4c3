#!/usr/bin/env bash
# Does the contrastive objective make the generated adapters depend on the task? A small
# paired pilot (issue 21): generators trained alike by scripts/train_cpu_generator.sh on the
# first TASKS_N (48) `wide` tasks (round-robin over domains), STEPS (300) steps, a delta on the
# top TOP (2) layers, ITEM_POOL (32) labeled items a task, one per VARIANT (default
# "functional contrastive"):
#   functional          the task loss alone
#   contrastive         + the hinge (--contrast-weight 1, --contrast-margin 0.1)
#   contrastive-detach  + the hinge without gradient into the partner (--contrast-detach)
#   contrastive-cap     + the hinge with the partner's loss capped at the reference's (--contrast-cap)
# then the delta-diversity rung of each on the wide_val tasks (mean cosine between tasks'
# deltas, true vs shuffled condition): results/ladder/pilot-VARIANT.md. Only validation tasks
# are looked at. The trainings run side by side, one thread each (two at a time fit 2 cores).
#   bash scripts/contrast_pilot.sh [RUN_ROOT]     (default runs/pilot; rerun to resume)
#   VARIANTS="contrastive contrastive-cap" bash scripts/contrast_pilot.sh
# Then, for the accuracy rung: SEED=results RUNGS=near bash scripts/generator_ladder.sh
# runs/pilot/VARIANT pilot-VARIANT (~8 min each).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-runs/pilot}
PY=${PY:-.venv/bin/python}
VARIANTS=${VARIANTS:-functional contrastive}
TASKS=$($PY -c "from dnd.tasks.registry import pick_tasks; print(','.join(pick_tasks('wide', ${TASKS_N:-48})))")
export STEPS=${STEPS:-300} TOP=${TOP:-2} ITEM_POOL=${ITEM_POOL:-32} TASKS
mkdir -p "$ROOT"
source scripts/variant.sh
for v in $VARIANTS; do variant "$v" || exit 2; done  # every name checked before any training starts
for v in $VARIANTS; do
  variant "$v"
  [ -f "$ROOT/$v/manifest.json" ] || OMP_NUM_THREADS=1 OBJECTIVE=$VOBJ TRAIN_FLAGS="$VFLAGS" \
    bash scripts/train_cpu_generator.sh "$ROOT/$v" > "$ROOT-$v.log" 2>&1 &
done
wait
for v in $VARIANTS; do
  [ -f "$ROOT/$v/manifest.json" ] || { echo "contrast_pilot: $v did not finish (see $ROOT-$v.log)" >&2; exit 1; }
  RUNGS=diversity bash scripts/generator_ladder.sh "$ROOT/$v" "pilot-$v"
done
