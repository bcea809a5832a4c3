#!/usr/bin/env bash
# The GPU run behind results/gpu/: both suites, whole eval pools, both protocols, on one
# CUDA device. The device is launch-bound on a 135M model, so independent pieces run as
# parallel processes: the commonsense suite, and the short suite's held-out tasks in two
# halves once its zoo exists. A last pass over the short suite (everything cached) writes
# its full report. Resumable: rerun the script to continue after an interruption.
#
#   bash scripts/gpu_reproduce.sh [RESULTS_DIR]      (default results/gpu)
#
# Without an installed `dnd`, put src/ on PYTHONPATH; the commands below are exactly
# what `dnd reproduce` records in RESULTS_DIR/<suite>.md.
set -euo pipefail
out=${1:-results/gpu}
dnd() { if type -P dnd >/dev/null; then command dnd "$@"; else python3 -m dnd.cli.main "$@"; fi; }
zoo_flags=(--steps 300 --keep 10 --batch-size 16 --lr 3e-4 --max-length 256 --device cuda)
flags=(--out "$out" --device cuda --limit 200 --protocols loglik,generate --batch-size 64
       --zoo-steps 300 --zoo-keep 10 --zoo-batch-size 16 --zoo-lr 3e-4 --zoo-max-length 256 --gen-steps 300)
short_a=sst2,rte,mrpc,cb,copa,sciq
short_b=social_iqa,sarcasm,quartz,basic_knowledge,boolq
mkdir -p "$out/logs"
python3 -c "from dnd.assets import resolve_base_model; resolve_base_model()"  # convert the GGUF once

dnd reproduce --suite commonsense "${flags[@]}" >"$out/logs/commonsense.log" 2>&1 &
dnd zoo --tasks short --out "$out/work/short/zoo" "${zoo_flags[@]}" >"$out/logs/short_zoo.log" 2>&1
dnd reproduce --suite short --tasks "$short_a" "${flags[@]}" >"$out/logs/short_a.log" 2>&1 &
dnd reproduce --suite short --tasks "$short_b" "${flags[@]}" >"$out/logs/short_b.log" 2>&1 &
wait
dnd reproduce --suite short "${flags[@]}" >"$out/logs/short.log" 2>&1
echo "gpu_reproduce: done"
