"""User task files: .jsonl rows and .txt lines, and the errors for bad files."""

from __future__ import annotations

import json

import pytest

from dnd.errors import DndError
from dnd.tasks.items import Item, TaskFileError, is_labeled, load_task_file


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_labeled(tmp_path):
    rows = [
        {"prompt": "Is the sky blue?", "answer": "yes", "choices": ["yes", "no"]},
        {"prompt": "2 + 2 =", "answer": "4"},
    ]
    f = _write(tmp_path / "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    items = load_task_file(f)
    assert items == [Item("Is the sky blue?", "yes", ("yes", "no")), Item("2 + 2 =", "4")]
    assert is_labeled(items)
    assert items[0].to_json() == rows[0]


def test_jsonl_unlabeled(tmp_path):
    f = _write(tmp_path / "t.jsonl", '{"prompt": "a"}\n{"prompt": "b"}\n')
    items = load_task_file(f)
    assert [it.prompt for it in items] == ["a", "b"]
    assert not is_labeled(items)


def test_txt_lines(tmp_path):
    f = _write(tmp_path / "p.txt", "first prompt\n\n  second prompt  \n")
    assert load_task_file(f) == [Item("first prompt"), Item("second prompt")]


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.jsonl", '{"prompt": "ok"}\n{"prompt": \n', "bad.jsonl:2: invalid JSON"),
        ("bad.jsonl", '{"answer": "yes"}\n', "bad.jsonl:1: missing 'prompt'"),
        ("bad.jsonl", '{"prompt": "  "}\n', "bad.jsonl:1: missing 'prompt'"),
        ("bad.jsonl", '["a"]\n', "bad.jsonl:1: expected a JSON object"),
        (
            "bad.jsonl",
            '{"prompt": "p", "answer": "maybe", "choices": ["yes", "no"]}\n',
            "bad.jsonl:1: answer 'maybe' is not among choices",
        ),
        ("bad.jsonl", '{"prompt": "p", "choices": ["yes", "no"]}\n', "bad.jsonl:1: 'choices' given without 'answer'"),
        ("bad.jsonl", '{"prompt": "p", "answer": 3}\n', "bad.jsonl:1: 'answer' must be a string"),
        ("empty.jsonl", "\n\n", "empty.jsonl: empty file"),
        ("empty.txt", "", "empty.txt: empty file"),
        ("data.csv", "prompt\n", "unknown extension"),
    ],
)
def test_bad_files(tmp_path, name, text, message):
    f = _write(tmp_path / name, text)
    with pytest.raises(TaskFileError, match=message.replace("(", r"\(")) as e:
        load_task_file(f)
    assert isinstance(e.value, DndError) and "\n" not in str(e.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(TaskFileError, match="no such file"):
        load_task_file(tmp_path / "nope.jsonl")
    with pytest.raises(TaskFileError, match="is a directory"):
        load_task_file(tmp_path)


def test_not_utf8(tmp_path):
    f = tmp_path / "latin.txt"
    f.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(TaskFileError, match="not UTF-8"):
        load_task_file(f)
