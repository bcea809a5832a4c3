#!/usr/bin/env bash
# Serve dnd-generated adapters from vLLM: the engine to move to when one `dnd serve`
# process is not enough (continuous batching, many adapters in one batch, a GPU).
#
#   bash scripts/vllm_serve.sh [DATA_DIR] [PORT]
#
# DATA_DIR is `dnd serve --data` (default ~/.cache/dnd/serve): every adapter under
# DATA_DIR/adapters/ is a plain PEFT directory and is loaded into the running vLLM server
# at run time with POST /v1/load_lora_adapter (vLLM's runtime LoRA updating), under its dnd
# id, so an OpenAI client asks for `model = <dnd id>` exactly as with `dnd serve`. The
# base model is the converted SmolLM2-135M-Instruct checkpoint that dnd keeps in its cache.
# Rerun with NEW=1 to load only adapters added since (the server keeps running).
#
# Needs: a GPU machine with vLLM installed (`pip install vllm`), dnd importable (`pip install
# -e .` or PYTHONPATH=src) for the base model path, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-${DND_CACHE:-$HOME/.cache/dnd}/serve}"
PORT="${2:-8100}"
PY="${PYTHON:-python}"
URL="http://127.0.0.1:${PORT}"

BASE="$("$PY" -c 'from dnd.assets import resolve_base_model; print(resolve_base_model())')"
RANK="$("$PY" -c 'import json,sys,glob; rs=[json.load(open(p))["r"] for p in glob.glob(sys.argv[1]+"/adapters/dnd-*/adapter_config.json")]; print(max(rs or [8]))' "$DATA")"
N="$(ls -d "$DATA"/adapters/dnd-* 2>/dev/null | wc -l)"
echo "base model: $BASE; $N adapters in $DATA/adapters (max rank $RANK)"

if [ "${NEW:-0}" != 1 ]; then
  export VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
  vllm serve "$BASE" --served-model-name base --host 127.0.0.1 --port "$PORT" \
    --enable-lora --max-lora-rank "$RANK" --max-loras "${MAX_LORAS:-8}" --max-cpu-loras "${MAX_CPU_LORAS:-64}" \
    --max-model-len 2048 --gpu-memory-utilization "${GPU_MEM:-0.5}" > "${LOG:-vllm_serve.log}" 2>&1 &
  echo "vllm serve pid $! (log ${LOG:-vllm_serve.log}); waiting for $URL/health"
  for _ in $(seq 1 180); do curl -sf "$URL/health" > /dev/null && break; sleep 2; done
  curl -sf "$URL/health" > /dev/null || { echo "vLLM did not come up; see the log"; exit 1; }
fi

for dir in "$DATA"/adapters/dnd-*; do
  [ -f "$dir/adapter_model.safetensors" ] || continue
  id="$(basename "$dir")"
  code="$(curl -s -o /tmp/vllm_load.out -w '%{http_code}' -X POST "$URL/v1/load_lora_adapter" \
    -H 'Content-Type: application/json' -d "{\"lora_name\": \"$id\", \"lora_path\": \"$dir\"}")"
  echo "load $id: HTTP $code $(head -c 200 /tmp/vllm_load.out)"
done

first="$(ls -d "$DATA"/adapters/dnd-* 2>/dev/null | head -1 | xargs -r basename)"
if [ -n "$first" ]; then
  for model in base "$first"; do
    echo "--- $model"
    curl -s "$URL/v1/chat/completions" -H 'Content-Type: application/json' -d "{\"model\": \"$model\",
      \"messages\": [{\"role\": \"user\", \"content\": \"Review: a gorgeous, witty film.\\nIs this review positive or negative?\"}],
      \"max_tokens\": 16, \"temperature\": 0}"
    echo
  done
fi
