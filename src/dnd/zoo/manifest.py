"""The zoo's manifest: what was trained, on which base model, and a checksum per file.

ZOO_DIR/
    manifest.json                    this file's content (see `new_manifest`)
    <task>/checkpoints/step_000123/  a PEFT adapter dir (adapter_config.json + adapter_model.safetensors)
    <task>/full_shot/                the final adapter of the run (the task's full-shot LoRA)
    <task>/milestones/step_000009/   sparse early checkpoints (cost of reaching an accuracy)
    <task>/losses.json               training loss at every step
    .lock                            taken while the manifest is updated (parallel builds)
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path

from dnd.artifacts import ADAPTER_WEIGHTS, KIND_NAMES, artifact_kind
from dnd.errors import DndError
from dnd.fileio import read_json, sha256_file, write_json

MANIFEST = "manifest.json"
LOSSES = "losses.json"
LOCK = ".lock"
FORMAT = "dnd-zoo/1"


class ZooError(DndError):
    pass


def new_manifest(base_model: dict, lora: dict) -> dict:
    return {"format": FORMAT, "base_model": base_model, "lora": lora, "tasks": {}}


def load_manifest(zoo_dir: str | Path) -> dict:
    path = Path(zoo_dir) / MANIFEST
    kind = artifact_kind(zoo_dir)
    if kind in ("generator", "adapter", "file"):
        raise ZooError(f"{zoo_dir}: is {KIND_NAMES[kind]}, not a zoo")
    if not path.exists():
        raise ZooError(f"{zoo_dir}: not a zoo (no {MANIFEST})")
    try:
        manifest = read_json(path)
    except ValueError as e:
        raise ZooError(f"{path}: unreadable manifest ({str(e).splitlines()[0]})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        fmt = manifest.get("format") if isinstance(manifest, dict) else None
        raise ZooError(f"{path}: unknown zoo format {fmt!r}")
    if not isinstance(manifest.get("tasks"), dict) or not isinstance(manifest.get("base_model"), dict):
        raise ZooError(f"{path}: not a zoo manifest (no 'tasks' / 'base_model')")
    return manifest


def save_manifest(zoo_dir: str | Path, manifest: dict) -> None:
    write_json(Path(zoo_dir) / MANIFEST, manifest)


@contextlib.contextmanager
def locked(zoo_dir: str | Path):
    """Hold the zoo's lock file, so that several `dnd zoo` processes training different
    tasks into one zoo (one per task on a GPU) never lose each other's manifest entries."""
    with open(Path(zoo_dir) / LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def open_zoo(zoo_dir: str | Path, base_model: dict, lora: dict) -> dict:
    """The manifest of the zoo at `zoo_dir`, created if new, refused if it holds adapters of
    another base model or LoRA shape. Under the lock: another process may be creating or
    extending the same zoo."""
    zoo_dir = Path(zoo_dir)
    zoo_dir.mkdir(parents=True, exist_ok=True)
    with locked(zoo_dir):
        if (zoo_dir / MANIFEST).exists():
            manifest = load_manifest(zoo_dir)
            check_compatible(manifest, base_model, lora, zoo_dir)
        else:
            manifest = new_manifest(base_model, lora)
            save_manifest(zoo_dir, manifest)
    return manifest


def add_task(zoo_dir: str | Path, task: str, entry: dict) -> dict:
    """Record a finished task: re-read the manifest under the lock, add, write; return it."""
    with locked(zoo_dir):
        manifest = load_manifest(zoo_dir)
        manifest["tasks"][task] = entry
        save_manifest(zoo_dir, manifest)
    return manifest


def add_multitask(zoo_dir: str | Path, name: str, entry: dict) -> dict:
    """Record a finished multi-task LoRA (see dnd.zoo.multitask) under the lock."""
    with locked(zoo_dir):
        manifest = load_manifest(zoo_dir)
        manifest.setdefault("multitask", {})[name] = entry
        save_manifest(zoo_dir, manifest)
    return manifest


def check_compatible(manifest: dict, base_model: dict, lora: dict, zoo_dir: str | Path) -> None:
    """Refuse to mix adapters of another base model or another LoRA shape into one zoo."""
    have = manifest["base_model"]
    if have["weights_sha256"] != base_model["weights_sha256"]:
        raise ZooError(
            f"{zoo_dir}: built for base model {have['name']} (weights {have['weights_sha256'][:12]}), "
            f"not {base_model['name']} (weights {base_model['weights_sha256'][:12]}); use another --out"
        )
    if manifest["lora"] != lora:
        raise ZooError(f"{zoo_dir}: built with LoRA config {manifest['lora']}, not {lora}; use another --out")


def verify(zoo_dir: str | Path, manifest: dict, tasks: list[str] | None = None) -> None:
    """Check every recorded adapter file against its sha256; name the first bad one."""
    zoo_dir = Path(zoo_dir)
    for task, entry in manifest["tasks"].items():
        if tasks is not None and task not in tasks:
            continue
        for ckpt in entry["checkpoints"] + entry.get("milestones", []) + [entry["full_shot"]]:
            path = zoo_dir / ckpt["path"] / ADAPTER_WEIGHTS
            if not path.exists():
                raise ZooError(f"{path}: checkpoint missing (task {task})")
            if sha256_file(path) != ckpt["sha256"]:
                raise ZooError(f"{path}: checksum mismatch, the checkpoint is corrupted (task {task})")
    for name, entry in manifest.get("multitask", {}).items():
        path = zoo_dir / entry["path"] / ADAPTER_WEIGHTS
        if not path.exists() or sha256_file(path) != entry["sha256"]:
            raise ZooError(f"{path}: multi-task LoRA '{name}' missing or corrupted (checksum mismatch)")


def checkpoint_paths(zoo_dir: str | Path, manifest: dict, task: str) -> list[Path]:
    """Adapter directories of a task's kept trajectory, in step order."""
    return [Path(zoo_dir) / c["path"] for c in manifest["tasks"][task]["checkpoints"]]


def summary_rows(manifest: dict) -> list[dict]:
    rows = []
    for task, e in manifest["tasks"].items():
        rows.append({
            "task": task, "train_pool": e["train_pool"], "checkpoints": len(e["checkpoints"]),
            "steps": e["train"]["steps"], "final_loss": e["final_loss"], "wall_time_s": e["wall_time_s"],
        })
    return rows
