"""Task items and user task files.

An item is what the model sees and what it should answer:
    prompt   the user turn, the full task text (the chat template is applied at run time,
             in one place: dnd.lora.prompt.format_prompt)
    answer   the exact expected output, or None for unlabeled prompts
    choices  the candidate outputs for log-likelihood scoring, or None

Within a task, items are one per prompt (`dedupe`) and ordered by `prompt_key`, the SHA-256
of the prompt (the registry's pools and the BIG-bench builders' cap both use that order).

User task files come in two formats:
    .jsonl  one JSON object a line: {"prompt": ..., "answer"?: ..., "choices"?: [...]}
    .txt    one unlabeled prompt a line (blank lines skipped)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from dnd.errors import DndError


@dataclass(frozen=True)
class Item:
    prompt: str
    answer: str | None = None
    choices: tuple[str, ...] | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        if d["choices"] is not None:
            d["choices"] = list(d["choices"])
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_json(cls, d: dict) -> "Item":
        """The inverse of `to_json` (no validation: for files dnd wrote itself)."""
        choices = d.get("choices")
        return cls(prompt=d["prompt"], answer=d.get("answer"), choices=tuple(choices) if choices is not None else None)


def prompt_key(item: Item) -> str:
    """The item's place in a task's fixed order: the SHA-256 of its prompt (the same in every
    process and on every machine, unlike Python's salted `hash`)."""
    return hashlib.sha256(item.prompt.encode("utf-8")).hexdigest()


def dedupe(items: list[Item]) -> list[Item]:
    """One item per prompt: repeats with the same answer collapse to the first; a prompt
    seen with different answers is dropped altogether (its label is ambiguous)."""
    first: dict[str, Item] = {}
    conflicted: set[str] = set()
    for it in items:
        seen = first.get(it.prompt)
        if seen is None:
            first[it.prompt] = it
        elif seen.answer != it.answer:
            conflicted.add(it.prompt)
    return [it for p, it in first.items() if p not in conflicted]


class TaskFileError(DndError):
    """A task file that cannot be used; the message names the file and line."""


def load_task_file(path: str | Path, choices_need_answer: bool = True) -> list[Item]:
    """Read a .jsonl or .txt task file, validating every row (see module docstring).
    `choices_need_answer=False` accepts unlabeled rows with choices (calibration prompts)."""
    path = Path(path)
    if not path.exists():
        raise TaskFileError(f"{path}: no such file")
    if path.is_dir():
        raise TaskFileError(f"{path}: is a directory, expected a .jsonl or .txt file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TaskFileError(f"{path}: not UTF-8 text ({e.reason})") from None
    if path.suffix == ".txt":
        items = [Item(prompt=line.strip()) for line in text.splitlines() if line.strip()]
    elif path.suffix in (".jsonl", ".json"):
        items = [_parse_row(path, n, line, choices_need_answer) for n, line in enumerate(text.splitlines(), 1)
                 if line.strip()]
    else:
        raise TaskFileError(f"{path}: unknown extension {path.suffix!r}, expected .jsonl or .txt")
    if not items:
        raise TaskFileError(f"{path}: empty file, no prompts")
    return items


def _parse_row(path: Path, n: int, line: str, choices_need_answer: bool = True) -> Item:
    where = f"{path}:{n}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise TaskFileError(f"{where}: invalid JSON ({e.msg})") from None
    if not isinstance(row, dict):
        raise TaskFileError(f"{where}: expected a JSON object, got {type(row).__name__}")
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise TaskFileError(f"{where}: missing 'prompt' (a non-empty string)")
    answer = row.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise TaskFileError(f"{where}: 'answer' must be a string")
    choices = row.get("choices")
    if choices is not None:
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
            raise TaskFileError(f"{where}: 'choices' must be a non-empty list of strings")
        if answer is None and choices_need_answer:
            raise TaskFileError(f"{where}: 'choices' given without 'answer'")
        if answer is not None and answer not in choices:
            raise TaskFileError(f"{where}: answer {answer!r} is not among choices {choices}")
        choices = tuple(choices)
    return Item(prompt=prompt, answer=answer, choices=choices)


def is_labeled(items: list[Item]) -> bool:
    return all(it.answer is not None for it in items)
