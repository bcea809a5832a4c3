"""Reading dnd's artifacts safely, and checking where outputs go.

Artifacts (zoos, generator directories, adapters, caches) are read only as safetensors
and JSON: nothing is unpickled. Anything else, a truncated or corrupted file, a checksum
that does not match its manifest, or a directory of another kind than the flag expects,
is a `DndError` whose one-line message names the file.

    kind = artifact_kind(path)                  # "zoo", "generator", "adapter", ... or None
    check_output(path, "--out", kind="adapter")  # refuse a file, another artifact, an unwritable place
    tensors = load_safetensors(path)            # one-line error for a truncated/foreign file
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from dnd.errors import DndError

# Files that identify each kind of directory (see dnd.zoo.manifest, dnd.generator.config,
# PEFT's save_pretrained, dnd.evaluation.reproduce).
ZOO_FORMAT_PREFIX = "dnd-zoo/"
GENERATOR_CONFIG = "generator_config.json"
ADAPTER_CONFIG = "adapter_config.json"  # a PEFT adapter directory: its settings (peft.utils.CONFIG_NAME)
ADAPTER_WEIGHTS = "adapter_model.safetensors"  # and its weights (dnd.lora.io)
MANIFEST = "manifest.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")

KIND_NAMES = {"zoo": "a zoo directory", "generator": "a generator directory", "adapter": "a PEFT adapter directory",
              "file": "a file", "results": "a results directory", "other": "a directory holding other files"}


def artifact_kind(path: str | os.PathLike) -> str | None:
    """What `path` holds: zoo, generator, adapter, results, file, empty, other; None if absent."""
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_dir():
        return "file"
    if (path / GENERATOR_CONFIG).exists():
        return "generator"
    if (path / ADAPTER_CONFIG).exists():
        return "adapter"
    if (path / MANIFEST).exists():
        try:
            fmt = json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("format", "")
        except (ValueError, AttributeError, OSError):
            fmt = ""
        if isinstance(fmt, str) and fmt.startswith(ZOO_FORMAT_PREFIX):
            return "zoo"
    if (path / "work").is_dir():
        return "results"
    try:
        next(path.iterdir())
    except StopIteration:
        return "empty"
    return "other"


def _writable_ancestor(path: Path, flag: str) -> None:
    """Refuse `path` if it cannot be created: probe its nearest existing ancestor with a
    temporary directory (removed at once), which is what every writer does first."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise DndError(f"{flag} {path}: {parent} is a file, not a directory")
    try:
        Path(tempfile.mkdtemp(prefix=".dnd-probe.", dir=parent)).rmdir()
    except OSError as e:
        raise DndError(f"{flag} {path}: cannot write in {parent} ({e.strerror or e})") from None


def check_output(path: str | os.PathLike, flag: str, kind: str, replaces: bool = False) -> None:
    """Refuse an output path before any work: a file, a directory holding another kind of
    artifact (or, when the writer `replaces` the whole directory, anything but its own kind
    or an empty directory), or a place that cannot be written."""
    path = Path(path)
    have = artifact_kind(path)
    if have == "file":
        raise DndError(f"{flag} {path}: is a file, expected a directory for {KIND_NAMES[kind]}")
    if have in KIND_NAMES and have != kind and (replaces or have != "other"):
        raise DndError(f"{flag} {path}: already holds {KIND_NAMES[have]}, not {KIND_NAMES[kind]}; "
                       "refusing to overwrite it (choose another path)")
    _writable_ancestor(path / "x" if path.is_dir() else path, flag)


def check_output_file(path: str | os.PathLike, flag: str) -> None:
    """Refuse an output file path before any work: a directory, or a place that cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise DndError(f"{flag} {path}: is a directory, expected a file path")
    _writable_ancestor(path, flag)


def read_json_file(path: str | os.PathLike, what: str = "") -> object:
    """JSON from an artifact file, or a one-line error naming it."""
    path = Path(path)
    if not path.is_file():
        raise DndError(f"{path}: missing{' (' + what + ')' if what else ''}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DndError(f"{path}: not JSON text (binary data)") from None
    except ValueError as e:
        raise DndError(f"{path}: invalid JSON ({e})") from None


def load_safetensors(path: str | os.PathLike, device: str = "cpu") -> dict:
    """A safetensors file's tensors, or a one-line error: missing, truncated, a pickle."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        siblings = [p.name for p in path.parent.glob("*") if p.suffix in PICKLE_SUFFIXES] if path.parent.is_dir() else []
        hint = f" (found {siblings[0]}: only safetensors are read, never pickles)" if siblings else ""
        raise DndError(f"{path}: missing{hint}")
    try:
        return load_file(path, device=device)
    except Exception as e:  # SafetensorsError, OSError from a truncated mmap, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DndError(f"{path}: not a readable safetensors file ({first}); "
                       "it is truncated, corrupted or in another format") from None


def verify_checksums(directory: str | os.PathLike, checksums: dict, what: str) -> None:
    """Every `name: sha256` of a manifest matches the file in `directory`."""
    from dnd.fileio import sha256_file

    directory = Path(directory)
    for name, sha in checksums.items():
        if not isinstance(name, str) or not isinstance(sha, str) or "/" in name or name.startswith("."):
            raise DndError(f"{directory / MANIFEST}: not a {what} manifest (entry {name!r})")
        if not (directory / name).is_file():
            raise DndError(f"{directory / name}: missing, the {what} is incomplete")
        if sha256_file(directory / name) != sha:
            raise DndError(f"{directory / name}: checksum mismatch, the {what} is corrupted")


def check_generator_dir(path: str | os.PathLike, flag: str = "--generator", verify: bool = True) -> None:
    """Refuse anything but a finished generator directory whose files match its manifest."""
    path = Path(path)
    kind = artifact_kind(path)
    if kind is None:
        raise DndError(f"{flag} {path}: no such directory")
    if kind in ("zoo", "adapter", "file", "results"):
        raise DndError(f"{flag} {path}: is {KIND_NAMES[kind]}, not a trained generator")
    if not (path / MANIFEST).exists() or not (path / GENERATOR_CONFIG).exists():
        raise DndError(f"{flag} {path}: not a trained generator (no {MANIFEST}; is `dnd train` finished?)")
    checksums = read_json_file(path / MANIFEST)
    if not isinstance(checksums, dict):
        raise DndError(f"{path / MANIFEST}: not a generator manifest")
    if verify:
        verify_checksums(path, checksums, "generator")
