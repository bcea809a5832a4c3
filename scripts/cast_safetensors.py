"""Rewrite a safetensors file with its float tensors cast to fp16 or fp32 (integers kept).

    python scripts/cast_safetensors.py SRC DST fp16|fp32      (DST may be SRC)

scripts/gpu_bundle.sh ships MiniLM's weights in fp16 (half the bytes to stage on a GPU
machine); scripts/gpu_env.sh casts them back to fp32 there.
"""

from __future__ import annotations

import os
import sys

import torch
from safetensors.torch import load_file, save_file

DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


def main(src: str, dst: str, dtype: str) -> None:
    state = load_file(src)
    tmp = f"{dst}.tmp"  # then a rename: DST (maybe SRC itself) is never left half-written
    save_file({k: v.to(DTYPES[dtype]) if v.is_floating_point() else v for k, v in state.items()}, tmp)
    os.replace(tmp, dst)


if __name__ == "__main__":
    main(*sys.argv[1:])
