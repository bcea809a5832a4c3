#!/usr/bin/env bash
# The unseen-task benchmark of scripts/unseen_benchmark.sh at 300 items a task and under both
# protocols, in ONE device call on a lent GPU machine (no network, no data packages):
#
#   here:    bash scripts/gpu_bundle.sh wide_val,unseen      then, per part N: device-stage put N
#            and a device call of `bash .stage/recv.sh` carrying .stage (see gpu_bundle.sh)
#   device:  bash scripts/gpu_unseen_benchmark.sh            (one call; DEADLINE seconds, default 540)
#   without the BIG-bench cache: gpu_bundle.sh wide_val,heldout here, FAR_SUITE=heldout on the device
#
# It writes results/gpu-300/{wide_val,FAR_SUITE}{,-generate}.{md,json,png} and their caches under
# results/gpu-300/work (small JSON: bring results/gpu-300 back whole). Loglik runs first (the
# protocol every choice is made on), then generate; JOBS processes share the GPU (a 135M model
# leaves it idle between kernel launches). DEADLINE stops what is unfinished so the reports of
# the finished tasks are still written: a second call resumes from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f ~/stage/pools.json.gz ]; then source scripts/gpu_env.sh; fi
export DND=${DND:-"python -m dnd.cli"} PY=${PY:-python}
export OUT=${OUT:-results/gpu-300} LIMIT=${LIMIT:-300} DEVICE=${DEVICE:-cuda} JOBS=${JOBS:-6}
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
DEADLINE=${DEADLINE:-540}
mkdir -p "$OUT"
start=$(date +%s)
left() { echo $((DEADLINE - ($(date +%s) - start))); }
for protocol in loglik generate; do
  for stage in validate unseen; do
    t=$(left); [ "$t" -gt 20 ] || break 2
    PROTOCOL=$protocol timeout "$t" bash scripts/unseen_benchmark.sh "$stage" || echo "gpu_unseen_benchmark: $protocol $stage stopped (rerun to resume)"
  done
done
ls -la "$OUT"
