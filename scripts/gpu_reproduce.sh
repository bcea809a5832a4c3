#!/usr/bin/env bash
# The full-scale run of both suites on one CUDA device (results/gpu/ came from an earlier
# version of this script; see results/README.md). A 135M model leaves the GPU idle between
# kernel launches, so independent pieces run as parallel processes: one `dnd zoo` per task
# (up to $JOBS at once) into the suite's zoo, then each suite's held-out tasks in parts that
# fill the same report; a last pass per suite (everything cached) records the full command.
# Resumable: rerun with the same RESULTS_DIR to continue.
#
#   bash scripts/gpu_reproduce.sh [RESULTS_DIR]      (default results/gpu-YYYY-MM-DD)
#
# Use a fresh RESULTS_DIR on a fresh machine: the zoo is not kept between machines, and
# cached scores belong to the zoo they were measured on.
# Without an installed `dnd`, put src/ on PYTHONPATH.
set -euo pipefail
out=${1:-results/gpu-$(date +%F)}
jobs_max=${JOBS:-8}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}  # many processes share the CPU cores
dnd() { if type -P dnd >/dev/null; then command dnd "$@"; else python3 -m dnd.cli.main "$@"; fi; }
tasks_of() { python3 -c "from dnd.tasks.registry import SUITES; print(' '.join(SUITES['$1']))"; }
zoo_flags=(--steps 300 --keep 10 --batch-size 16 --lr 3e-4 --max-length 256 --device cuda)
flags=(--out "$out" --device cuda --limit 200 --protocols loglik,generate --batch-size 64
       --zoo-steps 300 --zoo-keep 10 --zoo-batch-size 16 --zoo-lr 3e-4 --zoo-max-length 256 --gen-steps 300)
declare -A parts=(
  [commonsense]="arc_e,arc_c,boolq,hellaswag piqa,winogrande,obqa"
  [short]="sst2,rte,mrpc,cb copa,sciq,social_iqa,sarcasm quartz,basic_knowledge,boolq"
)
mkdir -p "$out/logs"
python3 -c "from dnd.assets import resolve_base_model; resolve_base_model()"  # convert the GGUF once

for suite in commonsense short; do
  for task in $(tasks_of "$suite"); do
    while (( $(jobs -rp | wc -l) >= jobs_max )); do wait -n; done
    dnd zoo --tasks "$task" --out "$out/work/$suite/zoo" "${zoo_flags[@]}" >"$out/logs/zoo_${suite}_$task.log" 2>&1 &
  done
done
wait
for suite in commonsense short; do
  i=0
  for part in ${parts[$suite]}; do
    i=$((i + 1))
    dnd reproduce --suite "$suite" --tasks "$part" "${flags[@]}" >"$out/logs/${suite}_$i.log" 2>&1 &
  done
done
wait
for suite in commonsense short; do
  dnd reproduce --suite "$suite" "${flags[@]}" >"$out/logs/$suite.log" 2>&1
done
echo "gpu_reproduce: done ($out)"
