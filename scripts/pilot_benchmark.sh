#!/usr/bin/env bash
# The near-unseen rung (wide_val, 100 items a task) for one candidate generator as the
# primary one, so that its shuffled-condition control is scored too; base, calibrated base and
# multi-task LoRA rows come from the committed cache of results/wide_val (copied, never
# rescored), so only the candidate's methods cost time. wide_val is where choices are made.
#   bash scripts/pilot_benchmark.sh NAME GEN_DIR [OUT]     (default OUT results/pilot)
# JOBS (default 2) one-thread processes share the tasks; rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=$1 GEN=$2 OUT=${3:-results/pilot}
ZOO=${ZOO:-runs/zoo-shipped-ref}
JOBS=${JOBS:-2}
export OMP_NUM_THREADS=1
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}
[ -f "$ZOO/manifest.json" ] || $PY scripts/shipped_reference_zoo.py "$ZOO"
bash "$(dirname "$0")/results_cache.sh" unpack  # the committed score pieces (cache.tar.gz -> cache/)
mkdir -p "$OUT/work/wide_val/cache"
cp -rn results/work/wide_val/cache/. "$OUT/work/wide_val/cache/"
ARGS=(--suite wide_val --max-tasks 12 --zoo "$ZOO" --out "$OUT" --limit 100 --precision bf16 --device cpu
      --protocol loglik --methods base,multitask,dnd,controls,calibrated --calibration batch
      --generator "$NAME=$GEN")
mapfile -t tasks < <($PY -c "from dnd.tasks.registry import pick_tasks; print('\n'.join(pick_tasks('wide_val', 12)))")
pids=()
for ((j = 0; j < JOBS; j++)); do
  start=$((j * ${#tasks[@]} / JOBS))
  mine=("${tasks[@]:start}" "${tasks[@]:0:start}")
  $DND benchmark "${ARGS[@]}" --tasks "$(IFS=,; echo "${mine[*]}")" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
$DND benchmark "${ARGS[@]}"
