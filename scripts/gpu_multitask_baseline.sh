#!/usr/bin/env bash
# The GPU run's multi-task LoRA (1000 steps of batch 8 over all 168 `wide` tasks, from
# scripts/gpu_wide_zoo.sh) as a baseline on the validation and unseen suites, next to the
# base model, scored exactly as results/wide_val.md and results/unseen.md (the same tasks,
# 30 eval-pool items, bf16 scoring); writes results/multitask-baseline/{wide_val,unseen}.*.
#
#   bash scripts/gpu_multitask_baseline.sh MULTITASK_TAR
#
# MULTITASK_TAR is the GPU run's ZOO/_multitask folder as a tar (the device call brought it
# back as multitask.tar). It becomes runs/zoo-wide-gpu-mt: a zoo holding only that LoRA,
# described by the committed GPU manifest (results/work/zoo-wide-gpu/manifest.json) without
# its task entries, whose adapters stayed on the GPU machine; `dnd zoo --list` then checks
# the adapter against the manifest's sha256. Base-model scores come from the committed
# caches of results/work/{wide_val,unseen}; only the multi-task LoRA is scored. Resumable.
set -euo pipefail
TAR=${1:?usage: gpu_multitask_baseline.sh MULTITASK_TAR}
ZOO=runs/zoo-wide-gpu-mt
OUT=results/multitask-baseline
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DND=${DND:-.venv/bin/dnd}
PY=${PY:-.venv/bin/python}

if [ ! -f "$ZOO/manifest.json" ]; then
  mkdir -p "$ZOO"
  tar xf "$TAR" -C "$ZOO"
  $PY - "$ZOO" <<'EOF'
import json, sys
from dnd.fileio import write_json
manifest = json.load(open("results/work/zoo-wide-gpu/manifest.json"))
manifest["tasks"] = {}  # their adapters were not brought back from the GPU machine
write_json(f"{sys.argv[1]}/manifest.json", manifest)
EOF
fi
$DND zoo --list "$ZOO" >/dev/null  # verifies the multi-task adapter's sha256

bash "$(dirname "$0")/results_cache.sh" unpack  # the committed score pieces (cache.tar.gz -> cache/)
for suite in wide_val unseen; do
  mkdir -p "$OUT/work/$suite/cache"
  # the base model's scores (and only scores: never the finished rows) from the committed run
  cp -rn "results/work/$suite/cache/loglik-bf16" "$OUT/work/$suite/cache/" 2>/dev/null || true
done
COMMON=(--zoo "$ZOO" --out "$OUT" --limit 30 --precision bf16 --methods base,multitask)
$DND benchmark --suite wide_val --max-tasks 12 "${COMMON[@]}"
$DND benchmark --suite unseen --max-tasks 30 "${COMMON[@]}"
