"""The adapter store: every generated adapter is a tenant, a plain PEFT directory under
DATA/adapters/<id>/, addressed by a content-derived id.

    DATA/adapters/dnd-<20 hex>/adapter_config.json         PEFT
                              /adapter_model.safetensors   PEFT
                              /dnd_generation.json         where it came from, timings, note,
                                                           the `calibrated` mark (/v1/classify)
                              /dnd_prompts.json            the prompts it was generated from

The id hashes the generator (its manifest of checksums), the prompts, the description and
the seed, so the same upload twice maps to the same directory and costs nothing. Directories
are written atomically (built under a temporary name, then renamed) and deleted by renaming
them away first, so a reader never sees half an adapter. Ids are validated against a strict
pattern before they touch a path (no traversal).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import threading
import uuid
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file

from dnd.artifacts import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from dnd.fileio import atomic_dir, read_json, sha256_file, write_json
from dnd.serving.errors import ApiError

ID_PATTERN = re.compile(r"dnd-[0-9a-f]{20}")
INFO_FILE = "dnd_generation.json"  # dnd.generator.generate.GENERATION_INFO
PROMPTS_FILE = "dnd_prompts.json"
PUBLIC_FIELDS = ("id", "name", "created", "n_prompts", "description", "description_use", "seed",
                 "timings", "nearest", "far", "warnings", "generator_tasks", "base_model", "calibrated")


def generator_fingerprint(gen_dir: str | Path) -> str:
    """sha256 of the generator's manifest (which lists the sha256 of every file in it)."""
    return sha256_file(Path(gen_dir) / "manifest.json")


def adapter_id(generator_fp: str, prompts: list[str], description: str | None, seed: int) -> str:
    """Content-derived id: the same generator, prompts, description and seed give the same id."""
    key = json.dumps({"generator": generator_fp, "prompts": prompts, "description": description or "",
                      "seed": seed}, ensure_ascii=False, sort_keys=True)
    return "dnd-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def check_id(aid: str, param: str = "id") -> str:
    """The id itself, or a 400 naming `param` (nothing but dnd-<20 hex> reaches a path)."""
    if not isinstance(aid, str) or not ID_PATTERN.fullmatch(aid):
        raise ApiError(400, f"{param}: {str(aid)[:80]!r} is not an adapter id (dnd- and 20 hex digits)", param,
                       "invalid_id")
    return aid


class AdapterStore:
    """Adapters of one base model under DATA/adapters, with an LRU of loaded weights."""

    def __init__(self, data_dir: str | Path, base_sha256: str, cache_size: int = 8):
        self.root = Path(data_dir) / "adapters"
        self.root.mkdir(parents=True, exist_ok=True)
        self.base_sha256 = base_sha256
        self.cache_size = cache_size
        self._states: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    def path(self, aid: str, param: str = "id") -> Path:
        return self.root / check_id(aid, param)

    def exists(self, aid: str) -> bool:
        p = self.path(aid)
        return (p / INFO_FILE).is_file() and (p / ADAPTER_WEIGHTS).is_file() and self._fits(p)

    def _fits(self, p: Path) -> bool:
        try:
            info = read_json(p / INFO_FILE)
        except (OSError, ValueError):
            return False
        return info.get("base_model", {}).get("weights_sha256") == self.base_sha256

    def require(self, aid: str, param: str = "id") -> Path:
        """The directory of an existing adapter, or 404 naming `param`."""
        p = self.path(aid, param)
        if not self.exists(aid):
            raise ApiError(404, f"{param}: no adapter {aid!r}", param, "adapter_not_found")
        return p

    def info(self, aid: str, param: str = "id") -> dict:
        p = self.require(aid, param)
        info = read_json(p / INFO_FILE)
        out = {k: info.get(k) for k in PUBLIC_FIELDS}
        out["calibrated"] = bool(out["calibrated"])  # adapters written before the flag: False
        out["size_bytes"] = sum(f.stat().st_size for f in p.iterdir() if f.is_file())
        return out

    def prompts(self, aid: str, param: str = "model") -> list[str]:
        """The prompts the adapter was generated from (dnd_prompts.json; none for a
        description-only adapter)."""
        p = self.require(aid, param) / PROMPTS_FILE
        try:
            return list(read_json(p).get("prompts") or [])
        except (OSError, ValueError, AttributeError):
            return []

    def set_calibrated(self, aid: str, calibrated: bool, param: str = "id") -> dict:
        """Mark the adapter calibrated (or not) in its dnd_generation.json (rewritten
        atomically); its public record after the change."""
        p = self.require(aid, param)
        with self._lock:
            if not (p / INFO_FILE).is_file():  # deleted meanwhile
                raise ApiError(404, f"{param}: no adapter {aid!r}", param, "adapter_not_found")
            info = read_json(p / INFO_FILE)
            if info.get("calibrated") != calibrated:
                write_json(p / INFO_FILE, {**info, "calibrated": calibrated})
        return self.info(aid, param)

    def list(self) -> list[dict]:
        """Every usable adapter, newest first (directories of another base model are skipped)."""
        out = []
        for p in self.root.iterdir():
            if ID_PATTERN.fullmatch(p.name) and self.exists(p.name):
                try:
                    out.append(self.info(p.name))
                except ApiError:  # deleted meanwhile
                    continue
        return sorted(out, key=lambda d: (-(d.get("created") or 0), d["id"]))

    def create(self, aid: str, build: Callable[[Path], None]) -> Path:
        """Build the adapter directory under a temporary name and rename it into place."""
        final = self.path(aid)
        atomic_dir(final, build)
        return final

    def delete(self, aid: str) -> None:
        p = self.require(aid)
        gone = self.root / f".{aid}.deleted-{uuid.uuid4().hex[:8]}"
        with self._lock:  # not while set_calibrated rewrites a file in it
            os.replace(p, gone)  # atomic: readers see the whole adapter or none of it
            self._states.pop(aid, None)
        shutil.rmtree(gone, ignore_errors=True)

    def state(self, aid: str, param: str = "model") -> dict[str, torch.Tensor]:
        """The adapter's LoRA weights (PEFT saved names), from the LRU or from disk."""
        with self._lock:
            if aid in self._states:
                self._states.move_to_end(aid)
                return self._states[aid]
        state = load_file(self.require(aid, param) / ADAPTER_WEIGHTS)
        with self._lock:
            self._states[aid] = state
            while len(self._states) > self.cache_size:
                self._states.popitem(last=False)
        return state

    def zip_bytes(self, aid: str) -> bytes:
        """The PEFT directory as a zip (files under a folder named after the id)."""
        p = self.require(aid)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS, INFO_FILE, PROMPTS_FILE):
                if (p / name).is_file():
                    z.write(p / name, f"{aid}/{name}")
        return buf.getvalue()
