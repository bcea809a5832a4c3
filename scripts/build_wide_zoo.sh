#!/usr/bin/env bash
# The wide zoo and the multi-task LoRA, as committed in results/zoo-wide.md.
#
#   bash scripts/build_wide_zoo.sh [ZOO_DIR]      (default runs/zoo-wide; rerun to resume)
#
# One LoRA per `wide` task (40 bf16 steps of batch 8, lr 3e-4, the last 5 checkpoints kept,
# base and own-LoRA accuracy on 100 eval-pool items), tasks taken round-robin over the
# domains so that a partial zoo is still diverse; then one multi-task LoRA on all of them
# (3 x 40 steps, balanced across tasks: the issue's minimum, for CPU time). Both resume after a kill. On 2 cores run it with
# OMP_NUM_THREADS=2 alone, or =1 beside another job.
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=${1:-runs/zoo-wide}
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}
COMMON=(--out "$ZOO" --steps 40 --keep 5 --batch-size 8 --lr 3e-4)
TASKS=$($PY - <<'PY'
from itertools import zip_longest
from dnd.tasks.registry import list_tasks
by_domain = {}
for spec in list_tasks("wide"):
    by_domain.setdefault(spec.domain, []).append(spec.name)
rounds = zip_longest(*by_domain.values())
print(",".join(name for r in rounds for name in r if name))
PY
)
case "${2:-all}" in
  zoo) $DND zoo --tasks "$TASKS" "${COMMON[@]}" --eval-n 100 ;;
  multitask) $DND zoo --tasks wide "${COMMON[@]}" --multitask wide --multitask-factor 3 ;;
  all) $DND zoo --tasks "$TASKS" "${COMMON[@]}" --eval-n 100
       $DND zoo --tasks wide "${COMMON[@]}" --multitask wide --multitask-factor 3 ;;
esac
$DND zoo --list "$ZOO" --markdown results/zoo-wide.md > /dev/null
