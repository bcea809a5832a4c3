#!/usr/bin/env bash
# The CPU wide zoo and its multi-task LoRA, as committed in results/zoo-wide-cpu.md.
#
#   bash scripts/build_wide_zoo.sh [ZOO_DIR] [all|zoo|multitask|gpu-rest]   (default runs/zoo-wide, all;
#                                                                           rerun to resume)
#
# One LoRA per `wide` task (40 bf16 steps of batch 8, lr 3e-4, the last 5 checkpoints kept,
# base and own-LoRA accuracy on 100 eval-pool items), tasks taken round-robin over the
# domains so that a partial zoo is still diverse; then one multi-task LoRA on all of them
# (3 x 40 steps, balanced across tasks: the issue's minimum, for CPU time). Both resume after a kill. On 2 cores run it with
# OMP_NUM_THREADS=2 alone, or =1 beside another job. results/zoo-wide.md itself came from the
# GPU run (scripts/gpu_wide_zoo.sh); this CPU zoo's table goes to results/zoo-wide-cpu.md.
# gpu-rest trains only the wide tasks that the GPU run's committed manifest lacks
# (results/work/zoo-wide-gpu/manifest.json), so that every task has a LoRA somewhere. JOBS=2
# with OMP_NUM_THREADS=1 runs any stage as two one-thread processes.
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=${1:-runs/zoo-wide}
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}
COMMON=(--out "$ZOO" --steps 40 --keep 5 --batch-size 8 --lr 3e-4)
TASKS=$($PY -c "from dnd.tasks.registry import pick_tasks; print(','.join(pick_tasks('wide', None)))")
# JOBS processes (one thread each on 2 cores) take every JOBS-th of the tasks in $1 that the
# zoo does not hold yet, into the same zoo (its manifest is written under a lock)
zoo_in_shares() {
  local todo share j
  todo=$($PY -c "import json, os, sys; p = os.path.join(sys.argv[2], 'manifest.json'); done = json.load(open(p))['tasks'] if os.path.exists(p) else {}; print(','.join(t for t in sys.argv[1].split(',') if t not in done))" "$1" "$ZOO")
  for ((j = 0; j < ${JOBS:-1}; j++)); do
    share=$($PY -c "import sys; t = [x for x in sys.argv[1].split(',') if x]; print(','.join(t[int(sys.argv[2])::int(sys.argv[3])]))" "$todo" $j "${JOBS:-1}")
    [ -z "$share" ] || $DND zoo --tasks "$share" "${COMMON[@]}" --eval-n 100 &
  done
  wait
}
case "${2:-all}" in
  zoo) zoo_in_shares "$TASKS" ;;
  multitask) $DND zoo --tasks wide "${COMMON[@]}" --multitask wide --multitask-factor 3 ;;
  gpu-rest) zoo_in_shares "$($PY -c "import json; from dnd.tasks.registry import pick_tasks; m = json.load(open('results/work/zoo-wide-gpu/manifest.json')); print(','.join(t for t in pick_tasks('wide', None) if t not in m['tasks']))")" ;;
  all) zoo_in_shares "$TASKS"
       $DND zoo --tasks wide "${COMMON[@]}" --multitask wide --multitask-factor 3 ;;
esac
$DND zoo --list "$ZOO" --markdown results/zoo-wide-cpu.md > /dev/null
