#!/usr/bin/env bash
# The generators of the unseen-task benchmark (issue 10), all trained on the `wide` suite
# (never on wide_val or BIG-bench), seeded; resumable (rerun after a kill).
#   bash scripts/train_unseen_generators.sh [ZOO] [OUT] [functional|reconstruction|hybrid|all]
# ZOO holds the wide zoo and its multi-task LoRA (scripts/build_wide_zoo.sh), the residual
# reference of every generator here. Threads: OMP_NUM_THREADS (default 1).
# Steps are sized for one session on the 2-core CPU machine (a functional step of 8
# conditions x 4 items runs the base model forward and backward: ~30 s on one busy core):
# 60 functional / hybrid steps, 300 reconstruction steps (no base model, cheap).
set -euo pipefail
ZOO=${1:-runs/zoo-wide}
OUT=${2:-runs/unseen/generators}
WHICH=${3:-all}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DND=${DND:-.venv/bin/dnd}
REF="$ZOO/_multitask/wide/adapter"
COMMON=(--head shared --reference "$REF" --n-prompts 32 --max-pool 160 --encoder-max-tokens 128
        --batch-size 8 --items-per-task 4 --precision bf16 --seed 0)

if [[ $WHICH == functional || $WHICH == all ]]; then
  # task loss through the generated LoRA, on every wide task (no zoo LoRA needed)
  $DND train --objective functional --tasks wide --steps 60 "${COMMON[@]}" --out "$OUT/functional"
fi
if [[ $WHICH == reconstruction || $WHICH == all ]]; then
  # the paper's objective: fit the zoo's checkpoints (only the zoo's built tasks have them)
  $DND train --objective reconstruction --zoo "$ZOO" --steps 300 "${COMMON[@]}" --out "$OUT/reconstruction"
fi
if [[ $WHICH == hybrid || $WHICH == all ]]; then
  $DND train --objective hybrid --zoo "$ZOO" --steps 60 "${COMMON[@]}" --out "$OUT/hybrid"
fi
