#!/usr/bin/env bash
# Issue 21's scale run on a lent GPU, in ONE device call: the settings of
# scripts/train_cpu_generator.sh with ITEM_POOL=128 (the "v2" items128 run of docs/generator.md:
# 2000 steps of 8 conditions x 2 labeled items over all 168 `wide` tasks, condition "both",
# a delta on the top 8 layers, residual over the shipped reference) for each of OBJECTIVES,
# side by side on the one GPU (a 135M model leaves it mostly idle), on cuda.
#
#   here:    bash scripts/gpu_bundle.sh wide       then, per part N: device-stage put N and a
#            device call of `bash .stage/recv.sh` carrying .stage; the last part's call may
#            run this script right after recv.sh (see gpu_bundle.sh)
#   device:  bash scripts/gpu_train_generator.sh
#
# Each run trains for at most MAX_TIME seconds (`dnd train --max-time`: then it is saved as
# it is, its generator_config.json's steps_done says where it stopped), so that what comes
# back is a finished generator even when the device is slower than hoped. What comes back
# (the device tool's $OUT: at most 8 files of 16 MiB): per objective a bf16 copy of the
# generator (`python -m dnd.cli.pretrained export --no-task-index --no-check`: the check needs
# the BIG-bench cache), as $OUT/<objective>.tar.gz (~15 MB), and its log. Here: unpack each
# into runs/gpu/ and evaluate it (docs/generator.md).
# Env: OBJECTIVES ("functional contrastive"; training variants of scripts/variant.sh, e.g.
# "contrastive contrastive-cap"), STEPS (2000), MAX_TIME (360), ITEM_POOL (128),
# DEVICE (cuda; cpu for a dry run here with PY=.venv/bin/python TASKS=a,b STEPS=2), ONE_PASS (1:
# `dnd train --one-pass`, every condition's items in one forward pass, after a 2-step check on
# two tasks that falls back to one call per condition if it fails; 0: never), TRAIN_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f ~/stage/pools.json.gz ]; then source scripts/gpu_env.sh; fi
PY=${PY:-python3}
BACK=${OUT:-results/gpu-generator}   # the device tool's $OUT comes back
ZOO=runs/zoo-shipped-ref
OBJECTIVES=${OBJECTIVES:-functional contrastive}
source scripts/variant.sh
for obj in $OBJECTIVES; do variant "$obj" || exit 2; done  # checked before the loan's minutes go to anything
export ZOO OMP_NUM_THREADS=4 TOKENIZERS_PARALLELISM=false
mkdir -p "$BACK"
start=$(date +%s)
[ -f "$ZOO/manifest.json" ] || $PY scripts/shipped_reference_zoo.py "$ZOO"
$PY -c "from dnd.assets import resolve_base_model; resolve_base_model()"  # convert the GGUF once, before the runs
FLAGS=${TRAIN_FLAGS:-}
if [ "${ONE_PASS:-1}" = 1 ]; then  # never tried on a GPU before: a failure must not cost the loan
  if OBJECTIVE=contrastive DEVICE=${DEVICE:-cuda} DND="$PY -m dnd.cli" PY=$PY TASKS=arc_e,boolq ITEM_POOL=4 STEPS=2 \
      TOP=${TOP:-8} PRECISION=${PRECISION:-bf16} TRAIN_FLAGS="$FLAGS --one-pass" \
      bash scripts/train_cpu_generator.sh runs/gpu/one-pass-check >"$BACK/one-pass-check.log" 2>&1; then
    FLAGS="$FLAGS --one-pass"
    echo "gpu_train_generator: one-pass check passed"
  else
    echo "gpu_train_generator: one-pass check failed ($BACK/one-pass-check.log): one call per condition"
  fi
fi
pids=()
for obj in $OBJECTIVES; do
  variant "$obj"
  OBJECTIVE=$VOBJ DEVICE=${DEVICE:-cuda} DND="$PY -m dnd.cli" PY=$PY ITEM_POOL=${ITEM_POOL:-128} STEPS=${STEPS:-2000} \
    MAX_TIME=${MAX_TIME:-360} PRECISION=${PRECISION:-bf16} TRAIN_FLAGS="$FLAGS $VFLAGS" \
    bash scripts/train_cpu_generator.sh "runs/gpu/$obj" >"$BACK/$obj.log" 2>&1 &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
for obj in $OBJECTIVES; do
  if [ -f "runs/gpu/$obj/manifest.json" ]; then
    $PY -m dnd.cli.pretrained export "runs/gpu/$obj" --dst "$BACK/$obj" --dtype bf16 --no-task-index --no-check >>"$BACK/$obj.log" 2>&1
    tar -czf "$BACK/$obj.tar.gz" -C "$BACK" "$obj" && rm -rf "${BACK:?}/$obj"  # one file: $OUT returns at most 8
  fi
  tail -n 3 "$BACK/$obj.log"
done
echo "gpu_train_generator: $(($(date +%s) - start)) s; $failed run(s) failed"
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader 2>/dev/null || true
du -sh "$BACK"/* 2>/dev/null
