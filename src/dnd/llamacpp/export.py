"""A PEFT LoRA adapter directory -> a GGUF LoRA file that llama.cpp loads
(`Llama(model_path=BASE.gguf, lora_path=ADAPTER.gguf)`, `llama-cli --lora`, Ollama's ADAPTER).

Written with the `gguf` package: its tensor-name map for the base model's architecture
gives each target module's GGUF name (model.layers.3.self_attn.q_proj -> blk.3.attn_q),
and the metadata is what llama.cpp's adapter loader reads (llama-adapter.cpp):

    general.type          "adapter"
    general.architecture  the base model's ("llama", "qwen2")
    adapter.type          "lora"
    adapter.lora.alpha    lora_alpha (llama.cpp scales by alpha / rank, as PEFT does)
    <name>.weight.lora_a  A, torch shape (r, in)   (GGUF ne [in, r])
    <name>.weight.lora_b  B, torch shape (out, r)  (GGUF ne [r, out])

as llama.cpp's own convert_lora_to_gguf.py writes them. Llama-family GGUF files store the
q and k projections with their rows permuted for llama.cpp's rotary layout
(LlamaModel.permute in llama.cpp's converter); the converter applies that permutation to
the LoRA's output side, B, and so does this module. Only what has an exact llama.cpp
form is exported: DoRA, `modules_to_save`, LoRA biases, per-module alphas and targets
outside the transformer blocks' linear layers are refused with one line naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from dnd.errors import DndError

GGUF_NAME = "adapter_model.gguf"  # beside adapter_model.safetensors in an adapter directory
PREFIX = "base_model.model."
# HF architecture -> (gguf MODEL_ARCH name, whether q/k rows are permuted for llama.cpp's rope)
SUPPORTED = {
    "LlamaForCausalLM": ("LLAMA", True),
    "MistralForCausalLM": ("LLAMA", True),
    "Qwen2ForCausalLM": ("QWEN2", False),
}
DTYPES = {"f16": np.float16, "f32": np.float32}


def permute_rows(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """llama.cpp's rotary row order for a q/k output matrix (out, ...): within each head,
    the halves of the rotary pairs are interleaved (convert_hf_to_gguf LlamaModel.permute)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _read_config(adapter_dir: Path) -> dict:
    from dnd.artifacts import read_json_file

    path = adapter_dir / "adapter_config.json"
    if not adapter_dir.is_dir() or not path.is_file():
        raise DndError(f"{adapter_dir}: not a PEFT adapter directory (no adapter_config.json)")
    c = read_json_file(path)
    if not isinstance(c, dict):
        raise DndError(f"{path}: not a PEFT adapter config (a JSON object)")
    if str(c.get("peft_type", "LORA")).upper() != "LORA":
        raise DndError(f"{path}: a {c.get('peft_type')} adapter; only LoRA has a llama.cpp form")
    if c.get("use_dora"):
        raise DndError(f"{path}: a DoRA adapter (use_dora); llama.cpp loads plain LoRA only")
    if c.get("modules_to_save"):
        raise DndError(f"{path}: modules_to_save {c['modules_to_save']} (fully trained copies of modules); "
                       "a llama.cpp LoRA holds only low-rank updates")
    if c.get("bias", "none") != "none":
        raise DndError(f"{path}: bias {c['bias']!r}: LoRA biases have no llama.cpp form (expected 'none')")
    if c.get("lora_bias"):
        raise DndError(f"{path}: lora_bias: LoRA biases have no llama.cpp form")
    if c.get("alpha_pattern"):
        raise DndError(f"{path}: alpha_pattern (per-module alphas); a llama.cpp LoRA has one alpha")
    if c.get("fan_in_fan_out"):
        raise DndError(f"{path}: fan_in_fan_out (Conv1D-style weights); expected Linear layers")
    if not isinstance(c.get("r"), int) or not isinstance(c.get("lora_alpha"), (int, float)):
        raise DndError(f"{path}: not a LoRA adapter config (needs r and lora_alpha)")
    return c


def _base_dir(name: str, flag: str) -> Path:
    from dnd.assets import resolve_base_model

    path = Path(resolve_base_model(name))
    if not (path / "config.json").is_file():
        raise DndError(f"{flag} {name}: no config.json there (a local model directory or the default alias "
                       "is needed; no model hub is used)")
    return path


def _check_identity(adapter_dir: Path, base_dir: Path, base_name: str) -> None:
    """An adapter dnd wrote records its base model's weight hash: it must be this base's."""
    from dnd.assets import IDENTITY_FILE
    from dnd.fileio import read_json

    try:
        want = read_json(adapter_dir / "dnd_generation.json")["base_model"]["weights_sha256"]
        have = read_json(base_dir / IDENTITY_FILE)["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # not recorded on one side: the shape check below still applies
    if want != have:
        raise DndError(f"{adapter_dir}: made for another base model (weights {want[:12]}), "
                       f"not {base_name} (weights {have[:12]})")


def _base_shapes(base_dir: Path) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of the base checkpoint, read from the safetensors headers only."""
    from safetensors import safe_open

    shapes = {}
    for f in sorted(base_dir.glob("*.safetensors")):
        with safe_open(f, "pt") as sf:
            for k in sf.keys():
                shapes[k] = tuple(sf.get_slice(k).get_shape())
    return shapes


def lora_pairs(state: dict[str, torch.Tensor], where: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{module name (as in the base model): (A (r, in), B (out, r))} from PEFT saved names."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, t in state.items():
        if "lora_magnitude_vector" in key:
            raise DndError(f"{where}: {key} is a DoRA magnitude; llama.cpp loads plain LoRA only")
        for side in ("A", "B"):
            suffix = f".lora_{side}.weight"
            if key.startswith(PREFIX) and key.endswith(suffix):
                pairs.setdefault(key[len(PREFIX):-len(suffix)], {})[side] = t
                break
        else:
            raise DndError(f"{where}: tensor {key} is not a LoRA A/B matrix of a linear layer "
                           "(embeddings, biases and saved modules have no llama.cpp LoRA form)")
    for module, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise DndError(f"{where}: {module} has lora_{'A' if 'A' in ab else 'B'} but not its partner")
    return {m: (ab["A"], ab["B"]) for m, ab in sorted(pairs.items())}


def gguf_tensors(adapter_dir: Path, base_name: str | None = None, flag: str = "--base-model"):
    """(arch name, alpha, [(gguf name, array)]) for a PEFT LoRA directory; checks included."""
    import gguf

    from dnd.artifacts import load_safetensors, read_json_file

    c = _read_config(adapter_dir)
    base_name = base_name or c.get("base_model_name_or_path")
    if not base_name:
        raise DndError(f"{adapter_dir / 'adapter_config.json'}: no base_model_name_or_path; give {flag}")
    base_dir = _base_dir(base_name, flag)
    hp = read_json_file(base_dir / "config.json")
    arch = (hp.get("architectures") or ["?"])[0]
    if arch not in SUPPORTED:
        raise DndError(f"{flag} {base_name}: architecture {arch} is not supported for GGUF export "
                       f"(supported: {', '.join(SUPPORTED)})")
    _check_identity(adapter_dir, base_dir, base_name)
    arch_key, permuted = SUPPORTED[arch]
    model_arch = getattr(gguf.MODEL_ARCH, arch_key)
    names = gguf.get_tensor_name_map(model_arch, hp["num_hidden_layers"])
    n_head, n_kv = hp["num_attention_heads"], hp.get("num_key_value_heads") or hp["num_attention_heads"]
    alpha = float(c["lora_alpha"])
    if c.get("use_rslora"):  # PEFT scales by alpha / sqrt(r), llama.cpp by alpha / r
        if c.get("rank_pattern"):
            raise DndError(f"{adapter_dir / 'adapter_config.json'}: use_rslora with rank_pattern has no single alpha")
        alpha *= math.sqrt(c["r"])
    weights = adapter_dir / "adapter_model.safetensors"
    shapes = _base_shapes(base_dir)
    out = []
    for module, (a, b) in lora_pairs(load_safetensors(weights), weights).items():
        base_shape = shapes.get(module + ".weight")
        if base_shape is None or len(base_shape) != 2 or a.dim() != 2 or b.dim() != 2 \
                or (a.shape[1], b.shape[0]) != (base_shape[1], base_shape[0]) or a.shape[0] != b.shape[1]:
            got = f"{tuple(b.shape[:1])}x{tuple(a.shape[1:])}"
            raise DndError(f"{weights}: {module} ({got}) does not fit {base_name} "
                           f"({'no such layer' if base_shape is None else base_shape}): an adapter of another base model")
        gname = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if gname is None:
            raise DndError(f"{weights}: {module} has no GGUF tensor name for {arch}")
        if permuted and module.endswith("q_proj"):
            b = permute_rows(b, n_head)
        elif permuted and module.endswith("k_proj"):
            b = permute_rows(b, n_kv)
        out.append((gname + ".lora_a", a.float().numpy()))  # (r, in)
        out.append((gname + ".lora_b", b.float().numpy()))  # (out, r)
    return gguf.MODEL_ARCH_NAMES[model_arch], alpha, out


def export_gguf(adapter_dir: str | Path, out: str | Path | None = None, base_model: str | None = None,
                outtype: str = "f16", flag: str = "--base-model") -> Path:
    """Write `adapter_dir` as a GGUF LoRA file (default ADAPTER_DIR/adapter_model.gguf),
    atomically (a temporary name, then a rename); f16 or f32. Returns the file's path."""
    import gguf

    from dnd.fileio import atomic_write

    if outtype not in DTYPES:
        raise DndError(f"--outtype {outtype}: expected one of {', '.join(DTYPES)}")
    adapter_dir = Path(adapter_dir)
    out = Path(out) if out is not None else adapter_dir / GGUF_NAME
    arch, alpha, tensors = gguf_tensors(adapter_dir, base_model, flag)

    def write(tmp: str) -> None:
        w = gguf.GGUFWriter(tmp, arch)
        w.add_type(gguf.GGUFType.ADAPTER)
        w.add_string(gguf.Keys.Adapter.TYPE, "lora")
        w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        for name, arr in tensors:
            w.add_tensor(name, np.ascontiguousarray(arr.astype(DTYPES[outtype])))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    atomic_write(out, write)
    return out


def save_formats(gen, state: dict[str, torch.Tensor], out: str | Path, info: dict, fmt: str) -> Path:
    """`dnd generate --format gguf|both`: "both" writes the PEFT directory `out` with its
    GGUF inside (out/adapter_model.gguf); "gguf" writes only the GGUF file `out` (the PEFT
    directory is built in a temporary directory beside it and removed)."""
    import shutil
    import tempfile

    out = Path(out)
    if fmt == "both":
        gen.save_adapter(state, out, info=info)
        export_gguf(out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        gen.save_adapter(state, tmp / "peft", info=info)
        return export_gguf(tmp / "peft", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
