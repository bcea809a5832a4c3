#!/usr/bin/env bash
# The unseen-task benchmark of issue 10, as committed in results/wide_val.* and results/unseen.*.
#   bash scripts/unseen_benchmark.sh [baselines|validate|unseen|all]
#   baselines  the unseen suite's methods that need no generator (can run while they train)
#   validate   every generator of scripts/train_unseen_generators.sh on the wide_val tasks
#              (held out of `wide`, not BIG-bench): base, multi-task LoRA and DnD only.
#              The generator with the best wide_val mean becomes the primary one.
#   unseen     the unseen suite with every method, the primary generator first (it gets the
#              shuffled and random-text controls); reuses the baselines' cache
#   all        validate, then unseen
# Resumable; dnd benchmark --tasks splits a stage across processes that share the cache.
# Sizes (30 tasks, 30 items, bf16 scoring, full-shot LoRAs of 16 steps) fit a session on the
# 2-core CPU machine.
set -euo pipefail
WHICH=${1:-all}
ZOO=${ZOO:-runs/zoo-wide}
GENS=${GENS:-runs/unseen/generators}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}
COMMON=(--zoo "$ZOO" --out results --limit 30 --precision bf16)
ARGS=(--suite unseen --max-tasks 30 "${COMMON[@]}" --sample-loras 3 --shots 3 --icl-context 1024
      --full-shot-steps 16 --full-shot-lr 1e-3)

generators() {  # --generator flags, the wide_val winner first when results/wide_val.json exists
  local names
  names=$($PY - "$GENS" <<'EOF'
import json, os, sys
gens = [g for g in ("functional", "reconstruction", "hybrid") if os.path.exists(f"{sys.argv[1]}/{g}/manifest.json")]
if os.path.exists("results/wide_val.json"):
    mean = json.load(open("results/wide_val.json"))["summary"]["mean"]
    gens.sort(key=lambda g: -mean.get(f"dnd:{g}", -1))  # the best validation mean first
print(" ".join(gens))
EOF
)
  for g in $names; do printf -- '--generator %s=%s/%s ' "$g" "$GENS" "$g"; done
}

if [[ $WHICH == baselines ]]; then
  $DND benchmark "${ARGS[@]}" --methods base,training_loras,average,nearest,multitask,icl,full_shot
fi
if [[ $WHICH == validate || $WHICH == all ]]; then
  # shellcheck disable=SC2046
  $DND benchmark --suite wide_val --max-tasks 12 "${COMMON[@]}" --methods base,multitask,dnd $(generators)
fi
if [[ $WHICH == unseen || $WHICH == all ]]; then
  # shellcheck disable=SC2046
  $DND benchmark "${ARGS[@]}" $(generators)
fi
