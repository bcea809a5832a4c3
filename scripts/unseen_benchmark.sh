#!/usr/bin/env bash
# The unseen-task benchmark as committed in results/wide_val.* and results/unseen.* (issue 18).
#   bash scripts/unseen_benchmark.sh [validate|unseen|all]
#   validate  the 12 wide_val tasks (held out of `wide`, not BIG-bench): where model choices are made
#   unseen    the far suite FAR_SUITE, FAR_TASKS (30) of its tasks (evaluation only): unseen (default,
#             BIG-bench; needs its cache) or heldout (built from PyPI data on any machine; mostly
#             generated tasks, so its figures are not comparable with unseen's)
#   all       validate, then unseen
# LIMIT eval-pool items per task (default 100), PRECISION scoring (default bf16). Methods: base, calibrated base
# (batch and domain rules), the multi-task LoRA (plain and calibrated), every generator (plain
# and calibrated), the shuffled-condition control; nearest, average and training LoRAs too when
# the zoo holds every `wide` task's LoRA, the nearest LoRA alone when it holds those
# scripts/nearest_zoo.sh trains. ICL, full-shot and random-text stay at their 30-item run (results/n30/).
# The rule of the `+calibrated` methods is chosen on wide_val: the domain rule where its base
# mean there beats batch calibration's, else batch (the far suite is never looked at for it).
# ZOO (default runs/zoo-shipped-ref) is built from the shipped generator's reference when
# missing. Generators: the shipped one, then those of GENS (runs/unseen/generators) that exist.
# JOBS (default 2) one-thread processes share the tasks as they go (each locks the task it
# scores) and the cache, so a rerun resumes (kill -9 safe); a last pass writes the report.
set -euo pipefail
WHICH=${1:-all}
ZOO=${ZOO:-runs/zoo-shipped-ref}
GENS=${GENS:-runs/unseen/generators}
LIMIT=${LIMIT:-100}
PRECISION=${PRECISION:-bf16}  # of the base model while scoring: the committed results are bf16; fp32 on a CPU without native bf16
JOBS=${JOBS:-2}
OUT=${OUT:-results}
DEVICE=${DEVICE:-cpu}
PROTOCOL=${PROTOCOL:-loglik}   # generate: greedy answers, reported as SUITE-generate.* (no calibration)
FAR_SUITE=${FAR_SUITE:-unseen}
FAR_TASKS=${FAR_TASKS:-30}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}
SHIPPED=src/dnd/generator/pretrained/smollm2-135m-instruct

bash "$(dirname "$0")/results_cache.sh" unpack  # the committed score pieces (cache.tar.gz -> cache/)
[ -f "$ZOO/manifest.json" ] || $PY scripts/shipped_reference_zoo.py "$ZOO"
GEN_FLAGS=(--generator "shipped=$SHIPPED")
for g in functional reconstruction hybrid; do
  [ -f "$GENS/$g/manifest.json" ] && GEN_FLAGS+=(--generator "$g=$GENS/$g")
done
source "$(dirname "$0")/zoo_baselines.sh"
zoo_baselines "$ZOO"   # the nearest, average and training-LoRA baselines the zoo's task LoRAs allow
METHODS=base,multitask,dnd,controls,calibrated$ZOO_METHODS

run() {  # run SUITE MAX_TASKS [extra flags]: JOBS processes over the suite's tasks, then the report
  local suite=$1 max=$2; shift 2
  mapfile -t tasks < <($PY -c "from dnd.tasks.registry import pick_tasks; print('\n'.join(pick_tasks('$suite', $max)))")
  local pids=()
  for ((j = 0; j < JOBS; j++)); do
    # every process gets every task, starting at its own offset; a task being scored is
    # locked (dnd.evaluation.cached_scoring.task_claim), so the others pass on to the next one
    local start=$((j * ${#tasks[@]} / JOBS))
    local mine=("${tasks[@]:start}" "${tasks[@]:0:start}")
    local list; list=$(IFS=,; echo "${mine[*]}")
    $DND benchmark --suite "$suite" --max-tasks "$max" --tasks "$list" --zoo "$ZOO" --out "$OUT" \
      --limit "$LIMIT" --precision "$PRECISION" --device "$DEVICE" --protocol "$PROTOCOL" --methods "$METHODS" \
      "${GEN_FLAGS[@]}" "${NEAR_FLAGS[@]}" "$@" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  # one more pass over every task (all cached by now) writes the report with the whole command
  $DND benchmark --suite "$suite" --max-tasks "$max" --zoo "$ZOO" --out "$OUT" --limit "$LIMIT" \
    --precision "$PRECISION" --device "$DEVICE" --protocol "$PROTOCOL" --methods "$METHODS" "${GEN_FLAGS[@]}" "${NEAR_FLAGS[@]}" "$@"
}

rule() {  # the calibration rule chosen on wide_val
  $PY -c "
import json
m = json.load(open('$OUT/wide_val.json'))['summary']['mean']
print('domain' if m.get('calibrated_domain', 0) > m.get('calibrated', 0) else 'batch')"
}

if [[ $WHICH == validate || $WHICH == all ]]; then
  run wide_val 12 --calibration batch
  # the domain rule for the +calibrated methods too, so that both can be compared on validation
  [[ $(rule) == domain ]] && run wide_val 12 --calibration domain
fi
if [[ $WHICH == unseen || $WHICH == all ]]; then
  run "$FAR_SUITE" "$FAR_TASKS" --calibration "$(rule)"
fi
# the committed run's new pieces into the committed archives (results/work/SUITE/cache.tar.gz)
[ "$OUT" != results ] || bash "$(dirname "$0")/results_cache.sh" pack
