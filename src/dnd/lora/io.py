"""PEFT adapter directories: reading them (safetensors and JSON only, never a pickle) and
writing their adapter_config.json without importing peft.

    ADAPTER_DIR/adapter_config.json          the LoRA settings, as peft writes them
    ADAPTER_DIR/adapter_model.safetensors    the weights under PEFT's saved names

    state = read_adapter(path)               # {name: tensor}
    lora = adapter_settings(path)            # LoraSettings from adapter_config.json
    write_adapter_config(lora, base_model, out_dir)

adapter_config.json as PEFT writes it: importing peft pulls in transformers' modeling stack
(about a second on a CPU, on every `dnd generate`), while the file is a pure function of the
LoRA settings and the peft version. The first time a (settings, peft version) pair is seen,
peft's `LoraConfig(...).to_dict()` is computed and kept under the cache directory; later
writes read it back. The file written is what `LoraConfig.save_pretrained` writes (sorted
keys, indent 2), except that `target_modules` keeps the settings' order where peft writes a
set in hash order (so two runs agree).
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from dnd.artifacts import ADAPTER_CONFIG, ADAPTER_WEIGHTS, PICKLE_SUFFIXES, load_safetensors, read_json_file
from dnd.errors import DndError
from dnd.lora.settings import LoraSettings

if TYPE_CHECKING:
    import torch


def read_adapter(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights of the adapter directory `path`; a one-line DndError where it has none
    (naming a pickle found instead: only safetensors are read)."""
    path = Path(path)
    if not (path / ADAPTER_WEIGHTS).exists():
        pickles = sorted(p.name for p in path.glob("*") if p.suffix in PICKLE_SUFFIXES) if path.is_dir() else []
        also = f"; found {pickles[0]}, but only safetensors are read, never pickles" if pickles else ""
        raise DndError(f"--adapter {path}: not a PEFT adapter directory (no {ADAPTER_WEIGHTS}{also})")
    return load_safetensors(path / ADAPTER_WEIGHTS)


def adapter_settings(path: str | Path) -> LoraSettings:
    """The LoRA settings in `path`/adapter_config.json (target modules sorted)."""
    path = Path(path)
    if not (path / ADAPTER_CONFIG).exists():
        raise DndError(f"--adapter {path}: not a PEFT adapter directory (no {ADAPTER_CONFIG})")
    c = read_json_file(path / ADAPTER_CONFIG)
    if not isinstance(c, dict) or not isinstance(c.get("r"), int) or not isinstance(c.get("lora_alpha"), (int, float)) \
            or not isinstance(c.get("target_modules"), list):
        raise DndError(f"{path / ADAPTER_CONFIG}: not a LoRA adapter config (needs r, lora_alpha, target_modules)")
    return LoraSettings(r=c["r"], lora_alpha=c["lora_alpha"], lora_dropout=c.get("lora_dropout", 0.0),
                        target_modules=tuple(sorted(c["target_modules"])))


def _peft_version() -> str:
    try:
        return metadata.version("peft")
    except metadata.PackageNotFoundError:
        return "none"  # then computing the dict below raises peft's own ImportError


def _computed(lora: LoraSettings) -> dict:
    """LoraConfig.to_dict() for `lora`, with sets as lists in the settings' order."""
    d = lora.to_peft().to_dict()
    for key, value in d.items():
        if isinstance(value, set):
            d[key] = sorted(value, key=list(lora.target_modules).index) if key == "target_modules" else sorted(value)
    return d


def peft_config_dict(lora: LoraSettings, base_model: str) -> dict:
    """The adapter config of `lora` for `base_model`, as PEFT would save it (see module doc)."""
    from dnd.assets import cache_dir
    from dnd.fileio import write_json

    key = json.dumps({"peft": _peft_version(), "lora": lora.to_json(), "format": 1}, sort_keys=True)
    path = cache_dir() / "peft_configs" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # first use, or a damaged cache file: computed again
        d = _computed(lora)
        try:
            write_json(path, d)
        except OSError:
            pass  # an unwritable cache costs the next run the peft import, nothing else
    return {**d, "base_model_name_or_path": base_model}


def write_adapter_config(lora: LoraSettings, base_model: str, out_dir: str | Path) -> Path:
    """Write out_dir/adapter_config.json (bytes as LoraConfig.save_pretrained lays them out)."""
    path = Path(out_dir) / ADAPTER_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(peft_config_dict(lora, base_model), indent=2, sort_keys=True), encoding="utf-8")
    return path
