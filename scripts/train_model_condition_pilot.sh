#!/usr/bin/env bash
# Pilot of issue 21's model condition on the 2-core CPU (one session): a functional
# generator that reads the prompts with MiniLM and with the base model (--condition both),
# residual over the shipped reference (the multi-task LoRA), on 48 `wide` tasks (round-robin
# over domains), small pools and short items so that the base model's reading of every pool
# prompt and 300 steps fit in about an hour. Resumable: rerun after a kill.
#   bash scripts/train_model_condition_pilot.sh [OUT] [CONDITION]   (default runs/pilot/both, both)
# The full-scale run (>= 2000 steps over >= 150 tasks) is scripts/gpu_train_generator.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/pilot/both}
CONDITION=${2:-both}
ZOO=${ZOO:-runs/zoo-shipped-ref}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PY=${PY:-.venv/bin/python}
[ -f "$ZOO/manifest.json" ] || $PY scripts/shipped_reference_zoo.py "$ZOO"
TASKS=$($PY -c "from dnd.tasks.registry import pick_tasks; print(','.join(pick_tasks('wide', 48)))")
.venv/bin/dnd train --objective functional --tasks "$TASKS" --head shared --no-descriptions \
  --reference "$ZOO/_multitask/wide/adapter" --condition "$CONDITION" --n-prompts 8 --model-prompts 8 \
  --max-pool 32 --encoder-max-tokens 128 --max-length 128 --batch-size 4 --items-per-task 2 \
  --precision bf16 --steps ${STEPS:-300} --seed 0 --out "$OUT"
