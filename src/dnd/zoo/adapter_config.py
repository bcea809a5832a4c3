"""adapter_config.json as PEFT writes it, without importing peft on every `dnd generate`.

Importing peft pulls in transformers' modeling stack (about a second on a CPU), while the
file is a pure function of the LoRA settings and the peft version. The first time a
(settings, peft version) pair is seen, peft's `LoraConfig(...).to_dict()` is computed and
kept under the cache directory; later writes read it back. The file written is what
`LoraConfig.save_pretrained` writes (sorted keys, indent 2), except that `target_modules`
keeps the settings' order where peft writes a set in hash order (so two runs agree).
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

from dnd.zoo.lora import LoraSettings

CONFIG_NAME = "adapter_config.json"  # peft.utils.CONFIG_NAME


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
    path = Path(out_dir) / CONFIG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(peft_config_dict(lora, base_model), indent=2, sort_keys=True), encoding="utf-8")
    return path
