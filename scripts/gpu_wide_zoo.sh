#!/usr/bin/env bash
# The wide zoo and a longer multi-task LoRA on one CUDA device (results/zoo-wide.md came from
# this script). Per task the settings of scripts/build_wide_zoo.sh (40 steps of batch 8,
# lr 3e-4, the last 5 checkpoints kept, base and own-LoRA accuracy on 100 eval-pool items),
# in the CUDA default precision (fp32 weights, bf16 autocast). A 135M model leaves the GPU
# idle between kernel launches, so JOBS processes each train every JOBS-th task (round-robin
# over the domains) into one zoo, whose manifest is written under a lock; beside them one
# process trains the multi-task LoRA on all 168 tasks for MT_FACTOR x 40 steps.
#
#   bash scripts/gpu_wide_zoo.sh [ZOO_DIR] [REPORT.md]   (defaults runs/zoo-wide-gpu, results/zoo-wide.md)
#
# TASKS_ONLY (comma-separated, default the wide suite), STEPS, EVAL_N and MT_TASKS shrink it for a
# trial run. DEADLINE (seconds, default none) stops unfinished training so that the report of the
# finished tasks is still written; rerun with the same ZOO_DIR to resume. On a GPU machine
# without network or data packages: scripts/gpu_bundle.sh here, then `source
# scripts/gpu_env.sh` there (the committed run staged the model and a wide-only pools file
# by hand, the same way). Without an installed `dnd`, put src/ on PYTHONPATH.
set -euo pipefail
ZOO=${1:-runs/zoo-wide-gpu}
REPORT=${2:-results/zoo-wide.md}
JOBS=${JOBS:-12}
DEADLINE=${DEADLINE:-0}        # timeout(1) treats 0 as no limit
MT_FACTOR=${MT_FACTOR:-25}
DEVICE=${DEVICE:-cuda}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false  # many processes share the CPU cores
if type -P dnd >/dev/null; then DND=(dnd); else DND=(python3 -m dnd.cli.main); fi  # timeout(1) needs a command
COMMON=(--out "$ZOO" --steps "${STEPS:-40}" --keep 5 --batch-size 8 --lr 3e-4 --device "$DEVICE")
LOGS=$ZOO.logs
mkdir -p "$LOGS"
start=$(date +%s)
python3 -c "from dnd.assets import resolve_base_model; resolve_base_model()"  # convert the GGUF once
mapfile -t TASKS < <(python3 -c "from dnd.tasks.registry import pick_tasks; print('\n'.join(pick_tasks('wide', None)))")
[ -z "${TASKS_ONLY:-}" ] || IFS=, read -ra TASKS <<<"$TASKS_ONLY"

timeout "$DEADLINE" "${DND[@]}" zoo --tasks "${MT_TASKS:-wide}" "${COMMON[@]}" --multitask wide --multitask-factor "$MT_FACTOR" \
  >"$LOGS/multitask.log" 2>&1 &
for ((j = 0; j < JOBS; j++)); do
  share=()
  for ((i = j; i < ${#TASKS[@]}; i += JOBS)); do share+=("${TASKS[i]}"); done
  ((${#share[@]})) || continue
  timeout "$DEADLINE" "${DND[@]}" zoo --tasks "$(IFS=,; echo "${share[*]}")" "${COMMON[@]}" --eval-n "${EVAL_N:-100}" \
    >"$LOGS/zoo_$j.log" 2>&1 &
done
failed=0
while true; do
  wait -n || { rc=$?; [ "$rc" -eq 127 ] && break; failed=$((failed + 1)); }
done
elapsed=$(($(date +%s) - start))
"${DND[@]}" zoo --list "$ZOO" --markdown "$REPORT" >"$LOGS/list.log"
echo "gpu_wide_zoo: $(python3 -c "import json; m=json.load(open('$ZOO/manifest.json')); print(len(m['tasks']), 'tasks,', len(m.get('multitask', {})), 'multi-task LoRA(s)')") in $ZOO; ${elapsed} s elapsed with $JOBS processes; $failed process(es) stopped early or failed (logs in $LOGS)" | tee "$LOGS/elapsed.txt"
