#!/usr/bin/env bash
# Issue 21's run that separates "visits a task" from "number of tasks": all 168 `wide` tasks
# at the seen20 run's 480 labeled-item visits a task (5,040 contrastive steps of 8 conditions
# x 2 items, a delta on the top 2 layers, 64 labeled items a task, condition `both`), then its
# ladder on this CPU in fp32 (no native bf16 here): delta diversity, near-unseen (wide_val) and
# far-unseen on FAR_SUITE (default heldout: the BIG-bench sdist of `unseen` left PyPI).
#
#   setsid nohup bash scripts/scale_run_168.sh > runs/scale_run_168.log 2>&1 &
#
# Resumable at every stage: rerun the same command after a kill (training state every 100
# steps in GEN; every rung caches per task and method). A finished generator is never
# retrained. On the AVX2-only CPU of 2026-12-07: ~45 min of one-off prompt reading and
# lower-layer caches, then ~2.1 s a step (~3 h), then ~1.5 h of scoring.
# Env: GEN (runs/cpu/top2-contrastive-long), NAME (top2-contrastive-long), FAR_SUITE (heldout),
# RUNGS (diversity,near,far), PRECISION (fp32); the seen-task recovery rung needs a zoo of the
# recovery tasks' own LoRAs (scripts/recovery_zoo.sh), then RUNGS=recovery with it as ZOO.
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=${GEN:-runs/cpu/top2-contrastive-long}
NAME=${NAME:-top2-contrastive-long}
if [ -f "$GEN/generator_config.json" ] && [ ! -f "$GEN/train_state.json" ]; then
  echo "scale_run_168: $GEN is trained; to the ladder"
else
  OBJECTIVE=contrastive TOP=2 ITEM_POOL=64 STEPS=5040 OMP_NUM_THREADS=2 bash scripts/train_cpu_generator.sh "$GEN"
fi
PRECISION=${PRECISION:-fp32} FAR_SUITE=${FAR_SUITE:-heldout} RUNGS=${RUNGS:-diversity,near,far} \
  OMP_NUM_THREADS=1 bash scripts/generator_ladder.sh "$GEN" "$NAME"
