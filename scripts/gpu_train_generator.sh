#!/usr/bin/env bash
# Issue 21's task-loss generator at the scale that can learn, in ONE device call on a lent
# GPU machine (no network, no data packages): >= 2000 functional steps of 8 conditions x 4
# labeled items over all 168 `wide` tasks, condition "both" (MiniLM + the base model's
# reading of the prompts), residual over the shipped reference (the multi-task LoRA).
#
#   here:    bash scripts/gpu_bundle.sh wide       then, per part N: device-stage put N and a
#            device call of `bash .stage/recv.sh` carrying .stage (see gpu_bundle.sh)
#   device:  bash scripts/gpu_train_generator.sh  (one call; DEADLINE seconds, default 500)
#
# What comes back (under the device tool's $OUT, at most 64 MiB): the finished generator as
# a bf16 copy ($OUT/generator, `python -m dnd.cli.pretrained export`), or, when the
# deadline came first, the resumable training state ($OUT/state: rerun this script on the
# next loan with it copied to runs/gpu/both to resume). The state is fp32 (resume must be
# exact): --head-width 32 keeps it under 64 MiB. UNTESTED on a GPU so far.
# Env: OBJECTIVE (functional; contrastive: the task loss plus a margin over another task's
# adapter, docs/generator.md, about 2x the step cost), STEPS (2000), DEADLINE (500).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f ~/stage/pools.json.gz ]; then source scripts/gpu_env.sh; fi
DND=${DND:-"python -m dnd.cli"}
PY=${PY:-python}
GEN=${GEN:-runs/gpu/both}
BACK=${OUT:-results/gpu-generator}   # the device tool's $OUT comes back
STEPS=${STEPS:-2000}
DEADLINE=${DEADLINE:-500}
ZOO=runs/zoo-shipped-ref
export OMP_NUM_THREADS=4 TOKENIZERS_PARALLELISM=false
[ -f "$ZOO/manifest.json" ] || $PY scripts/shipped_reference_zoo.py "$ZOO"
[ -d "$BACK/state" ] && [ ! -f "$GEN/train_state.json" ] && mkdir -p "$GEN" && cp "$BACK"/state/* "$GEN"/
timeout "$DEADLINE" $DND train --objective "${OBJECTIVE:-functional}" --tasks wide --head shared --head-width 32 --no-descriptions \
  --reference "$ZOO/_multitask/wide/adapter" --condition both --n-prompts 32 --model-prompts 8 \
  --max-pool 160 --encoder-max-tokens 128 --max-length 256 --batch-size 8 --items-per-task 4 \
  --precision bf16 --steps "$STEPS" --seed 0 --device cuda --out "$GEN" \
  || echo "gpu_train_generator: stopped at the deadline (rerun with the state to resume)"
mkdir -p "$BACK"
if [ -f "$GEN/manifest.json" ]; then
  $PY -m dnd.cli.pretrained export "$GEN" --dst "$BACK/generator" --dtype bf16 --no-task-index
else
  mkdir -p "$BACK/state" && cp "$GEN"/train_state.* "$BACK/state/" 2>/dev/null || true
fi
du -sh "$BACK"/* 2>/dev/null
