"""Small file helpers used everywhere outputs are written: atomic writes and checksums.

Every file dnd writes goes to a temporary name in the same directory and is then renamed,
so a kill at any moment leaves either the old file or the complete new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def portable_path(path: str | os.PathLike, root: str | os.PathLike | None = None, strict: bool = False) -> str:
    """`path` as a file meant to travel records it: relative to `root` (default: the working
    directory) when an absolute path lies under it; another absolute path as given, or with
    `strict` (files shipped in the package) only its last component. Relative paths and
    names (e.g. "zoo-mean") are returned unchanged."""
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    try:
        return str(p.resolve().relative_to(Path(root or os.getcwd()).resolve()))
    except ValueError:
        return p.name if strict else str(path)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)`, fsync, then rename tmp_path onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    def _write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, _write)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_safetensors(path: str | os.PathLike, tensors: dict, metadata: dict | None = None) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def atomic_dir(final: str | os.PathLike, build: Callable[[Path], None]) -> None:
    """Build a directory under a temporary name, then rename it to `final`.

    An existing `final` is replaced only after the new one is complete.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
        if final.exists():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def memo_tensor(path: str | os.PathLike, name: str, compute: Callable[[], Any],
                accept: Callable[[Any], bool] = lambda value: True) -> Any:
    """`compute()` (a tensor), memoized in the safetensors file `path` under `name`.

    A cache file that cannot be read, or whose tensor `accept` rejects (from an older version,
    or damaged), is no error: the tensor is recomputed and the file replaced (atomically).
    """
    path = Path(path)
    if path.exists():
        from safetensors.torch import load_file

        try:
            value = load_file(path)[name]
            if accept(value):
                return value
        except Exception:  # a damaged cache file is recomputed
            pass
    value = compute()
    save_safetensors(path, {name: value})
    return value
