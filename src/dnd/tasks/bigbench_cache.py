"""The cached BIG-bench task files of the `unseen` suite, read and checked.

`python -m dnd.tasks.bigbench_fetch` (dnd.tasks.bigbench_fetch) writes them once:

    <cache>/bigbench/MANIFEST.json                  {"files": {task: {"size", "sha256"}}, ...}
    <cache>/bigbench/<task>[/<subtask>]/task.json  one per task the suite reads

where <cache> is $DND_CACHE or ~/.cache/dnd ($DND_BIGBENCH names the bigbench folder
itself, e.g. one cache shared by several checkouts). Readers (`read_task_json`) check each file
against the manifest and raise MissingDataError, one line saying how to fetch, when the
cache is missing, incomplete or corrupt; `is_cached` is the fetch's quick test (a stat per
file, no hashing).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from dnd.assets import cache_dir
from dnd.tasks.sources import MissingDataError

MANIFEST = "MANIFEST.json"
FETCH_HINT = "run `make setup` or `python -m dnd.tasks.bigbench_fetch`"
REFETCH_HINT = "run `python -m dnd.tasks.bigbench_fetch --force`"


BIGBENCH_ENV = "DND_BIGBENCH"


def bigbench_dir() -> Path:
    """Where the cached task.json files live: $DND_BIGBENCH, else <cache>/bigbench."""
    return Path(os.environ[BIGBENCH_ENV]) if os.environ.get(BIGBENCH_ENV) else cache_dir() / "bigbench"


@functools.lru_cache(maxsize=None)
def _manifest(root: Path) -> dict:
    try:
        return _read_manifest_files(root)
    except FileNotFoundError:
        raise MissingDataError(f"BIG-bench data is not cached in {root}; {FETCH_HINT}") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MissingDataError(
            f"{root / MANIFEST}: unreadable BIG-bench cache manifest ({e}); {REFETCH_HINT}"
        ) from None


def _read_manifest_files(root: Path) -> dict:
    with open(root / MANIFEST, encoding="utf-8") as f:
        files = json.load(f)["files"]
    if not isinstance(files, dict):
        raise TypeError("'files' is not an object")
    return files


def read_task_json(task: str) -> dict:
    """The parsed task.json of a BIG-bench task or subtask (e.g. 'arithmetic/2_digit_addition'),
    checked against the cache manifest (size and SHA-256); MissingDataError if absent or corrupt."""
    root = bigbench_dir()
    entry = _manifest(root).get(task)
    if entry is None:
        raise MissingDataError(f"BIG-bench task '{task}' is not in the cache {root}; {FETCH_HINT}")
    path = root / task / "task.json"
    try:
        data = path.read_bytes()
    except OSError as e:
        raise MissingDataError(f"{path}: cannot read ({e.strerror}); {REFETCH_HINT}") from None
    if len(data) != entry.get("size") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise MissingDataError(f"{path}: corrupt (size or checksum differs from {MANIFEST}); {REFETCH_HINT}")
    return json.loads(data)


def clear_caches() -> None:
    _manifest.cache_clear()


def is_cached(tasks) -> bool:
    """Whether every task's file is in the cache with the manifest's size (no hashing)."""
    root = bigbench_dir()
    try:
        files = _read_manifest_files(root)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    for task in tasks:
        entry = files.get(task)
        path = root / task / "task.json"
        if not isinstance(entry, dict) or not path.is_file() or path.stat().st_size != entry.get("size"):
            return False
    return True
