"""Reading OpenAI evals rows and shaping them into items, for the wide-suite builders.

An evals row is {"input": [chat messages], "ideal": answer or [answers]}. The helpers
here pick message contents and answers out of rows and make items the way
`dnd.tasks.builders` does (label items with their label set as `choices`, option-text
items via `mc_item`, open short answers without choices), skipping items whose prompt is
longer than MAX_PROMPT_CHARS (they would dominate LoRA training time) or whose open
answer is longer than MAX_OPEN_ANSWER_CHARS (answers stay short).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Callable, Iterable, Sequence

from dnd.tasks.builders import keep, label_item, mc_item
from dnd.tasks.items import Item
from dnd.tasks.sources import MissingDataError, evals_data_dir, read_evals_jsonl

MAX_PROMPT_CHARS = 3000
MAX_OPEN_ANSWER_CHARS = 32  # longer open answers (e.g. 65-digit sequence terms) are skipped
HEAD_ROWS = 6000


def rows(*relpaths: str) -> Iterable[dict]:
    """All rows of one or more evals data files, in file order."""
    return itertools.chain.from_iterable(read_evals_jsonl(p) for p in relpaths)


def head_rows(relpath: str, n: int = HEAD_ROWS) -> list[dict]:
    """The first `n` rows of a large evals file (reading all of it takes seconds)."""
    file = evals_data_dir() / relpath
    if not file.is_file():
        raise MissingDataError(f"{file}: data file missing (reinstall the asset packages)")
    with open(file, encoding="utf-8") as f:
        return [json.loads(line) for line in itertools.islice(f, n) if line.strip()]


def msg(row: dict, role: str = "user", index: int = -1) -> str:
    """The content of the `index`-th message of a role (default: the last user message)."""
    return [m["content"] for m in row["input"] if m.get("role") == role][index].strip()


def ideal(row: dict) -> str:
    """The row's answer (the first one where several are accepted), stripped; "" if none."""
    ideal = row.get("ideal")
    if isinstance(ideal, list):
        ideal = ideal[0] if ideal else None
    return "" if ideal is None else str(ideal).strip()


def fits(prompt: str) -> bool:
    """Whether a prompt is short enough to keep (MAX_PROMPT_CHARS)."""
    return len(prompt) <= MAX_PROMPT_CHARS


def label_items(
    rows: Iterable[dict],
    body: Callable[[dict], str | None],
    answer: Callable[[dict], str | None],
    labels: Sequence[str],
    instruction: str,
) -> list[Item]:
    """Closed-label items: `body(row)` is the prompt text, `answer(row)` one of `labels`."""
    items = []
    for r in rows:
        a, b = answer(r), body(r)
        if a in labels and b and fits(b):
            items.append(label_item(b, instruction, labels, a))
    return items


def open_items(
    rows: Iterable[dict],
    body: Callable[[dict], str | None],
    answer: Callable[[dict], str | None],
    instruction: str,
) -> list[Item]:
    """Open short-answer items (no choices)."""
    items = []
    for r in rows:
        a, b = answer(r), body(r)
        if a and len(a) <= MAX_OPEN_ANSWER_CHARS and b and fits(b):
            items.append(Item(prompt=f"{b.strip()}\n{instruction}", answer=a))
    return items


def mc_items(rows: Iterable[dict], parse: Callable[[dict], tuple[str, list[str], int] | None]) -> list[Item]:
    """Multiple-choice items rewritten into option texts; `parse` gives (stem, options, gold)."""
    items = (mc_item(*parsed) for parsed in map(parse, rows) if parsed is not None)
    # Items whose options are themselves bare letters ("A".."E", e.g. people named A-E)
    # would read as letter answers: skipped.
    return [it for it in keep(items) if fits(it.prompt) and set(it.choices) - set("ABCDE")]


def balanced(items: list[Item], per_label: int) -> list[Item]:
    """At most `per_label` items of each answer, in input order."""
    seen: dict[str, int] = {}
    out = []
    for it in items:
        if seen.get(it.answer, 0) < per_label:
            seen[it.answer] = seen.get(it.answer, 0) + 1
            out.append(it)
    return out


def strip_label(text: str, prefix: str = "") -> str:
    # "[claim]" -> "claim", "ANSWER: off" -> "off", "Yes." -> "yes"
    text = text.strip().removeprefix(prefix).strip()
    return text.strip("[]").strip().rstrip(".").strip().lower()


_LETTERED = re.compile(r"^\(?([A-E])[.)]\)? ?(.*)$")


def lettered(text: str) -> tuple[str, list[str], list[str]]:
    """Split 'stem\\nA. x\\nB. y...' (or '(A) x') into (stem, letters, option texts)."""
    stem, letters, options = [], [], []
    for line in text.strip().splitlines():
        m = _LETTERED.match(line.strip())
        if m and (letters or line.strip()[:1] in "A(") and len(letters) < 5:
            letters.append(m[1])
            options.append(m[2].strip())
        elif not letters:
            stem.append(line)
        elif line.strip() and not line.strip().startswith("Answer"):
            options[-1] += " " + line.strip()
    return "\n".join(stem).strip(), letters, options


def mc_lettered(row: dict, lead: str = "", clean: Callable[[str], str] = lambda s: s):
    stem, letters, options = lettered(msg(row))
    gold = ideal(row).strip("()")
    if letters != list("ABCDE"[: len(letters)]) or gold not in letters or len(letters) < 2:
        return None
    return (lead + stem).strip(), [clean(o) for o in options], letters.index(gold)
