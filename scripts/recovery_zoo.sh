#!/usr/bin/env bash
# A small zoo for the seen-task recovery rung (issue 21) on a machine without the wide zoo:
# the shipped generator's multi-task LoRA (scripts/shipped_reference_zoo.py) plus the own LoRA
# of the first N `wide` tasks that `dnd diagnose recovery` would pick (round-robin over the
# domains, every scored item with choices), trained as scripts/build_wide_zoo.sh trains them
# (40 bf16 steps of batch 8, lr 3e-4, the last 5 checkpoints kept).
#
#   bash scripts/recovery_zoo.sh [ZOO_DIR] [N]     (default runs/zoo-recovery, 20; rerun to resume)
#
# JOBS processes of OMP_NUM_THREADS threads each (default 2 x 1 on 2 cores) share the tasks.
# Then: bash scripts/generator_ladder.sh GEN_DIR NAME ZOO_DIR   (RUNGS=recovery for that rung alone)
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=${1:-runs/zoo-recovery}
N=${2:-20}
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ -f "$ZOO/manifest.json" ] || $PY scripts/shipped_reference_zoo.py "$ZOO"
TASKS=$($PY -c "
from dnd.evaluation.recovery import seen_tasks
from dnd.tasks.registry import load_pools, pick_tasks
wide = pick_tasks('wide', None)
picked = [t for t in seen_tasks(wide, set(wide)) if all(it.choices for it in load_pools(t)[1][:100])]
print(','.join(picked[:$N]))")
for ((j = 0; j < ${JOBS:-2}; j++)); do
  share=$($PY -c "import sys; print(','.join(sys.argv[1].split(',')[int(sys.argv[2])::int(sys.argv[3])]))" "$TASKS" $j "${JOBS:-2}")
  $DND zoo --tasks "$share" --out "$ZOO" --steps 40 --keep 5 --batch-size 8 --lr 3e-4 &
done
wait
$DND zoo --list "$ZOO" > /dev/null
