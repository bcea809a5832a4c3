#!/usr/bin/env bash
# The seen-task ablation of the contrastive scale run (docs/generator.md, "Few tasks, many
# steps each"): the same settings as runs/cpu/top2-contrastive (top 2 layers, 64 labeled items
# a task, condition both, contrastive), but trained on the 20 recovery tasks alone for 600
# steps, so each task gets ~480 labeled-item visits (the 168-task run gave ~71, a task's own
# LoRA 320). Then the ladder's diversity, seen-task recovery and near-unseen rungs.
#
#   bash scripts/seen_task_ablation.sh [GEN_DIR] [ZOO_DIR]
#        (defaults runs/cpu/top2-contrastive-seen20, runs/zoo-recovery; rerun to resume)
#
# Env: VARIANT (contrastive; a training variant of scripts/variant.sh, e.g. contrastive-cap),
# NAME (the ladder's report name), PRECISION (passed to training and scoring; unset: training auto,
# scoring bf16 as the committed seen20 run; fp32 on a CPU without native bf16), SEED (where the near rung's
# baseline pieces come from: default results, the committed bf16 benchmark; for fp32 e.g.
# results/ladder/top2-contrastive-long, whose wide_val rung was scored in fp32).
# ~14 min training on one thread beside another job, the recovery zoo 46 min when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=${1:-runs/cpu/top2-contrastive-seen20}
ZOO=${2:-runs/zoo-recovery}
NAME=${NAME:-top2-contrastive-seen20}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
source scripts/variant.sh
variant "${VARIANT:-contrastive}" || exit 2  # checked before anything runs
bash scripts/recovery_zoo.sh "$ZOO" 20
TASKS=$($PY scripts/recovery_tasks.py 20) OBJECTIVE=$VOBJ TRAIN_FLAGS="$VFLAGS" TOP=2 ITEM_POOL=64 STEPS=600 \
  bash scripts/train_cpu_generator.sh "$GEN"
RUNGS=diversity,recovery bash scripts/generator_ladder.sh "$GEN" "$NAME" "$ZOO"
SEED=${SEED:-results} RUNGS=near bash scripts/generator_ladder.sh "$GEN" "$NAME"
