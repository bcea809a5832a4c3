#!/usr/bin/env bash
# Issue 21's task-loss generator at scale on the 2-core CPU: >= 2000 functional steps of
# 8 conditions x 2 labeled items over all 168 `wide` tasks, condition "both" (MiniLM + the
# base model's reading of the prompts), residual over the shipped reference (the
# multi-task LoRA), a delta on the top 8 of 30 layers with the layers below cached
# (objectives/cached_lower.py; what each trick buys: benchmarks/bench_functional_step.py).
# Resumable: rerun the same command after a kill (state in OUT, every 100 steps).
#   bash scripts/train_cpu_generator.sh [OUT]          (default runs/cpu/top8-both)
# Env: STEPS (2000), TOP (8), TASKS (wide), CONDITION (both), ITEM_POOL (0: the labeled items
# come from the 32-prompt condition pool, as in the committed run; N: N items per task kept
# apart from it, `dnd train --item-pool`, so that 2000 steps do not revisit the same items),
# OBJECTIVE (functional; contrastive: the task loss plus a margin over another task's adapter,
# docs/generator.md, with `dnd train`'s default --contrast-weight / --contrast-margin),
# DEVICE (cpu), MAX_TIME (seconds of training, then the generator is saved as it is; `dnd
# train --max-time`), DND (the dnd command; scripts/gpu_train_generator.sh runs this script on a GPU),
# TRAIN_FLAGS (more `dnd train` flags, e.g. "--contrast-detach"; "--one-pass" on a GPU), PRECISION (auto: bf16
# where the CPU computes it natively, else fp32; the committed CPU runs before 2026-12-07 were bf16).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/cpu/top8-both}
ZOO=${ZOO:-runs/zoo-shipped-ref}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} TOKENIZERS_PARALLELISM=false
PY=${PY:-.venv/bin/python}
DND=${DND:-.venv/bin/dnd}
[ -f "$ZOO/manifest.json" ] || $PY scripts/shipped_reference_zoo.py "$ZOO"
$DND train --objective "${OBJECTIVE:-functional}" --tasks "${TASKS:-wide}" --head shared --no-descriptions \
  --reference "$ZOO/_multitask/wide/adapter" --condition "${CONDITION:-both}" --n-prompts 16 --model-prompts 8 \
  --top-layers "${TOP:-8}" --max-pool 32 --encoder-max-tokens 128 --max-length 128 --batch-size 8 \
  --items-per-task 2 --item-pool "${ITEM_POOL:-0}" --precision "${PRECISION:-auto}" --steps "${STEPS:-2000}" --seed 0 --device "${DEVICE:-cpu}" \
  ${MAX_TIME:+--max-time "$MAX_TIME"} ${TRAIN_FLAGS:-} --out "$OUT"
