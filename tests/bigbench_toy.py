"""A synthetic stand-in for the BIG-bench archive: every task.json the `unseen` suite reads,
with made-up examples in BIG-bench's JSON format that pass each task's rules
(dnd.tasks.builders_bigbench), packed as a toy bigbench-1.0.0.tar.gz.

The real sdist left PyPI (2026-12: the index lists bigbench 0.0.1 only), so a fresh machine
cannot fetch it; the tests read this archive through the real fetch code instead (conftest.py
points DND_BIGBENCH at the cache it makes). Nothing here is BIG-bench data.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from dnd.tasks import builders_bigbench as bb
from dnd.tasks import bigbench_fetch as fetch_mod

EXAMPLES = 150  # per task.json: 60 scored items and a 90-prompt train pool for a one-file task
WORDS = "red blue green small large old new round square wooden metal soft".split()


def _phrase(i: int, j: int) -> str:
    """A distinct three-word phrase for example i, option j."""
    return f"{WORDS[(i + j) % len(WORDS)]} {WORDS[(i // len(WORDS) + 2 * j + 1) % len(WORDS)]} thing{i}x{j}"


def _labels(task: bb.BBTask) -> tuple[str, ...] | None:
    """The fixed option keys of a label task; None for a task whose options vary per example."""
    if task.answer_format == "option text":
        return None
    if task.rename is bb.YES_NO:
        return ("Yes", "No")
    if task.rename is bb.VALID:
        return ("Valid", "Invalid")
    if "Neither" in task.rename:
        return ("True", "False", "Neither")
    if task.answer_format == "yes/no":
        return ("yes", "no")
    return ("alpha", "beta", "gamma")


def _example(task: bb.BBTask, file: str, i: int) -> dict:
    text = f"Toy question {i} of {file}: is the {_phrase(i, 0)} next to the {_phrase(i, 1)}?"
    keys = _labels(task)
    if task.name == "bb_hyperbaton":
        text = f'Which sentence has the correct adjective order: a " {_phrase(i, 0)} " b " {_phrase(i, 1)} " ?'
        keys = ("a", "b")
    elif task.name == "bb_logical_fallacy_detection":
        text = "Do you think the following argument is 'Valid' or 'Invalid'? " + text
    elif task.name == "bb_metaphor_boolean":
        text = f"The {_phrase(i, 0)} sings. <--> The {_phrase(i, 1)} is happy."
    elif task.name == "bb_movie_dialog_same_or_different":
        text = f'{text} In the preceding conversation, were the sentences "Hello {i}" and "Fine {i}"'
    if keys is None:  # options that vary per example: an option-text task
        keys = tuple(_phrase(i, j + 2) for j in range(3 + i % 2))
    answer = i % len(keys)
    return {"input": text, "target_scores": {k: int(j == answer) for j, k in enumerate(keys)}}


def task_files() -> dict[str, dict]:
    """{task or task/subtask folder: task.json content} for every file the suite reads."""
    files = {}
    for task in bb.TASKS:
        for file in task.files:
            files[file] = {"canary": "toy data, not BIG-bench", "task_prefix": "Toy task.",
                           "examples": [_example(task, file, i) for i in range(EXAMPLES)]}
    return files


def write_toy_tarball(path: Path, files: dict[str, dict] | None = None) -> str:
    """Write the toy archive to `path`; -> its SHA-256."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in (task_files() if files is None else files).items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(f"{fetch_mod.MEMBER_PREFIX}{name}/task.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()
