#!/usr/bin/env bash
# Own LoRAs of the given `wide` tasks into ZOO (built from the shipped generator's reference
# when missing), trained as scripts/build_wide_zoo.sh trains them on the CPU (40 bf16 steps of
# batch 8, lr 3e-4, the last 5 checkpoints kept): the shared step of scripts/recovery_zoo.sh
# and scripts/nearest_zoo.sh.
#
#   bash scripts/task_zoo.sh ZOO_DIR TASK,TASK,...     (rerun to resume: finished tasks are kept)
#
# JOBS processes of OMP_NUM_THREADS threads each (default 2 x 1 on 2 cores) share the tasks.
# ZOO_FLAGS adds `dnd zoo` flags (the last of a repeated flag wins), e.g. ZOO_FLAGS="--top-layers 2 --lr 2e-3".
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=$1
TASKS=$2
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ -f "$ZOO/manifest.json" ] || $PY scripts/shipped_reference_zoo.py "$ZOO"
for ((j = 0; j < ${JOBS:-2}; j++)); do
  share=$($PY -c "import sys; print(','.join(sys.argv[1].split(',')[int(sys.argv[2])::int(sys.argv[3])]))" "$TASKS" $j "${JOBS:-2}")
  [ -z "$share" ] || $DND zoo --tasks "$share" --out "$ZOO" --steps 40 --keep 5 --batch-size 8 --lr 3e-4 ${ZOO_FLAGS:-} &
done
wait
$DND zoo --list "$ZOO" > /dev/null
