#!/usr/bin/env bash
# The wide zoo and the multi-task LoRA, as committed in results/zoo-wide.md.
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
# (results/work/zoo-wide-gpu/manifest.json), so that every task has a LoRA somewhere; JOBS=2
# runs it as two one-thread processes.
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=${1:-runs/zoo-wide}
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}
COMMON=(--out "$ZOO" --steps 40 --keep 5 --batch-size 8 --lr 3e-4)
TASKS=$($PY -c "from dnd.tasks.registry import pick_tasks; print(','.join(pick_tasks('wide', None)))")
case "${2:-all}" in
  zoo) $DND zoo --tasks "$TASKS" "${COMMON[@]}" --eval-n 100 ;;
  multitask) $DND zoo --tasks wide "${COMMON[@]}" --multitask wide --multitask-factor 3 ;;
  gpu-rest) REST=$($PY -c "import json; from dnd.tasks.registry import pick_tasks; m = json.load(open('results/work/zoo-wide-gpu/manifest.json')); print(','.join(t for t in pick_tasks('wide', None) if t not in m['tasks']))")
       # JOBS processes (one thread each on 2 cores) take every JOBS-th task into the same zoo
       for ((j = 0; j < ${JOBS:-1}; j++)); do
         SHARE=$($PY -c "import sys; t = sys.argv[1].split(','); print(','.join(t[int(sys.argv[2])::int(sys.argv[3])]))" "$REST" $j ${JOBS:-1})
         [ -z "$SHARE" ] || $DND zoo --tasks "$SHARE" "${COMMON[@]}" --eval-n 100 &
       done
       wait ;;
  all) $DND zoo --tasks "$TASKS" "${COMMON[@]}" --eval-n 100
       $DND zoo --tasks wide "${COMMON[@]}" --multitask wide --multitask-factor 3 ;;
esac
$DND zoo --list "$ZOO" --markdown results/zoo-wide-cpu.md > /dev/null
