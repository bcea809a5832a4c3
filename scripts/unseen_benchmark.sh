#!/usr/bin/env bash
# The unseen-task benchmark of issue 10, as committed in results/unseen.{md,json,png}.
#   bash scripts/unseen_benchmark.sh [baselines|all]
# `baselines` scores only what needs no generator (it can run while the generators train);
# `all` adds every generator of scripts/train_unseen_generators.sh and the controls. Both
# share one cache under results/work/unseen, so `all` reuses the baselines. Resumable.
# Sizes (30 tasks, 30 items, bf16 scoring, full-shot LoRAs of 16 steps for the first 10
# tasks, one per domain) fit a session on the 2-core CPU machine.
set -euo pipefail
WHICH=${1:-all}
ZOO=${ZOO:-runs/zoo-wide}
GENS=${GENS:-runs/unseen/generators}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DND=${DND:-.venv/bin/dnd}
ARGS=(--suite unseen --max-tasks 30 --zoo "$ZOO" --out results --limit 30 --precision bf16 --sample-loras 3
      --shots 3 --icl-context 1024 --full-shot-steps 16 --full-shot-lr 1e-3 --full-shot-tasks 10)
if [[ $WHICH == baselines ]]; then
  $DND benchmark "${ARGS[@]}" --methods base,training_loras,average,nearest,multitask,icl,full_shot
else
  GEN_ARGS=()
  for g in ${GENERATORS:-functional reconstruction hybrid}; do
    [[ -f $GENS/$g/manifest.json ]] && GEN_ARGS+=(--generator "$g=$GENS/$g")
  done
  $DND benchmark "${ARGS[@]}" "${GEN_ARGS[@]}"
fi
