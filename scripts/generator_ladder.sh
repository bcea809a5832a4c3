#!/usr/bin/env bash
# The diagnostics ladder (issue 21) on one candidate generator, every rung a committed command:
#   bash scripts/generator_ladder.sh GEN_DIR NAME [ZOO]
#   1. delta diversity   dnd diagnose diversity (wide_val tasks' train-pool prompts; target < 0.9)
#   2. seen recovery     dnd diagnose recovery on RECOVERY_TASKS (20) training tasks, only with ZOO
#                        (it needs the training tasks' own LoRAs; target >= 70% of their gain)
#   3. near-unseen       dnd benchmark --suite wide_val (NEAR_TASKS, 12): against the multi-task
#                        LoRA, the nearest LoRA (when the zoo holds task LoRAs) and calibrated base
#   4. far-unseen        dnd benchmark --suite FAR_SUITE (FAR_TASKS, 30), the calibration rule taken
#                        from the near-unseen run as scripts/unseen_benchmark.sh takes it. FAR_SUITE:
#                        unseen (default; BIG-bench, needs its cache) or heldout (built from PyPI
#                        data on any machine; mostly generated tasks, so its figures are not
#                        comparable with unseen's)
#   controls             the shuffled condition on every rung (paired differences)
# then `dnd diagnose summary` writes OUT/NAME.md: each rung's figure, target (met/missed) and
# control, and the generator's learning curve (GEN_DIR/learning_curve.json) where it has one.
# Reports: OUT/NAME/ (default OUT=results/ladder); a NAME is tied to its generator (a rerun
# with another GEN_DIR under the same NAME is refused). Every rung caches its pieces, so a
# rerun resumes; recovery scores are shared by all candidates (OUT/work/recovery).
# The benchmark rungs use ZOO when given, else BENCH_ZOO (default runs/zoo-shipped-ref, the
# shipped generator's multi-task LoRA alone, built when missing); methods as in
# scripts/unseen_benchmark.sh. RUNGS=diversity,recovery,near,far picks rungs (the summary
# always runs). LIMIT items a task (100), PRECISION scoring (bf16), JOBS one-thread processes (2).
# SEED=results: the committed benchmark's pieces (results/work/SUITE/cache: base, calibrated
# base and multi-task rows of the same items, zoo and precision) are copied in first (never
# over a piece already there), so only the candidate's methods are scored. Only with the
# default BENCH_ZOO, which made them.
set -euo pipefail
GEN=${1:?usage: generator_ladder.sh GEN_DIR NAME [ZOO]}
NAME=${2:?usage: generator_ladder.sh GEN_DIR NAME [ZOO]}
ZOO=${3:-}
OUT=${OUT:-results/ladder}
LIMIT=${LIMIT:-100}
PRECISION=${PRECISION:-bf16}  # of the base model while scoring: the committed results are bf16; fp32 on a CPU without native bf16
JOBS=${JOBS:-2}
DEVICE=${DEVICE:-cpu}
RUNGS=${RUNGS:-diversity,recovery,near,far}
RECOVERY_TASKS=${RECOVERY_TASKS:-20}
NEAR_TASKS=${NEAR_TASKS:-12}
FAR_TASKS=${FAR_TASKS:-30}
FAR_SUITE=${FAR_SUITE:-unseen}
DIVERSITY_TASKS=${DIVERSITY_TASKS:-}   # default: every wide_val task
BENCH_ZOO=${ZOO:-${BENCH_ZOO:-runs/zoo-shipped-ref}}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}
has() { [[ ",$RUNGS," == *",$1,"* ]]; }
D=(--generator "$GEN" --name "$NAME" --out "$OUT")
if [ -f "$OUT/$NAME/manifest.json" ]; then  # refused (exit 2) where NAME holds another generator's reports
  $DND diagnose summary "${D[@]}" > /dev/null
fi

if has diversity; then
  $DND diagnose diversity "${D[@]}" --suite wide_val ${DIVERSITY_TASKS:+--max-tasks "$DIVERSITY_TASKS"} --device "$DEVICE"
fi
if has recovery && [ -n "$ZOO" ]; then
  $DND diagnose recovery "${D[@]}" --zoo "$ZOO" --tasks "$RECOVERY_TASKS" --limit "$LIMIT" --precision "$PRECISION" \
    --device "$DEVICE" ${CEILING_ZOO:+--ceiling-zoo "$CEILING_ZOO"}
fi

if has near || has far; then
  [ -f "$BENCH_ZOO/manifest.json" ] || $PY scripts/shipped_reference_zoo.py "$BENCH_ZOO"
  # scripts/unseen_benchmark.sh's methods: the nearest, average and training LoRAs the zoo's task
  # LoRAs allow (scripts/zoo_baselines.sh); the multi-task LoRA where it has one called `wide`
  source "$(dirname "$0")/zoo_baselines.sh"
  zoo_baselines "$BENCH_ZOO"
  METHODS=$($PY -c "
import json
m = json.load(open('$BENCH_ZOO/manifest.json'))
print(','.join(['base'] + (['multitask'] if 'wide' in m.get('multitask', {}) else []) + ['dnd', 'controls', 'calibrated']))")
  METHODS+=$ZOO_METHODS
fi
BENCH_OUT=$OUT/$NAME
SEED=${SEED:-}
[ -z "$SEED" ] || bash "$(dirname "$0")/results_cache.sh" unpack  # the committed score pieces (cache.tar.gz -> cache/)
seed() {  # seed SUITE: the committed pieces of SUITE, where there are some
  if [ -n "$SEED" ] && [ -d "$SEED/work/$1/cache" ]; then
    mkdir -p "$BENCH_OUT/work/$1/cache" && cp -rn "$SEED/work/$1/cache/." "$BENCH_OUT/work/$1/cache/"
  fi
}
run() {  # run SUITE MAX_TASKS [extra flags]: JOBS processes sharing the suite's tasks, then the report
  local suite=$1 max=$2; shift 2
  local common=(--suite "$suite" --max-tasks "$max" --zoo "$BENCH_ZOO" --out "$BENCH_OUT" --limit "$LIMIT"
                --precision "$PRECISION" --device "$DEVICE" --methods "$METHODS" --generator "$NAME=$GEN" "${NEAR_FLAGS[@]}" "$@")
  mapfile -t tasks < <($PY -c "from dnd.tasks.registry import pick_tasks; print('\n'.join(pick_tasks('$suite', $max)))")
  local pids=()
  for ((j = 0; j < JOBS; j++)); do  # each process starts at its own offset; a task being scored is locked
    local start=$((j * ${#tasks[@]} / JOBS))
    local mine=("${tasks[@]:start}" "${tasks[@]:0:start}")
    local list; list=$(IFS=,; echo "${mine[*]}")
    $DND benchmark "${common[@]}" --tasks "$list" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  $DND benchmark "${common[@]}"  # every task cached by now: the report, with the whole command
}
if has near; then
  seed wide_val
  run wide_val "$NEAR_TASKS" --calibration batch
fi
if has far; then
  [ -f "$BENCH_OUT/wide_val.json" ] || { echo "generator_ladder: the far-unseen rung takes its calibration rule from the near-unseen run ($BENCH_OUT/wide_val.json): run it first" >&2; exit 2; }
  RULE=$($PY -c "
import json
m = json.load(open('$BENCH_OUT/wide_val.json'))['summary']['mean']
print('domain' if m.get('calibrated_domain', 0) > m.get('calibrated', 0) else 'batch')")
  seed "$FAR_SUITE"
  run "$FAR_SUITE" "$FAR_TASKS" --calibration "$RULE"
fi
$DND diagnose summary "${D[@]}"
