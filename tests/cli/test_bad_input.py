"""Bad input through the commands that read task files, zoos and generators: one line on
stderr naming the file or flag, exit status 2, no traceback, nothing written."""

import subprocess
import sys

import pytest


def dnd(*args):
    return subprocess.run([sys.executable, "-m", "dnd.cli", *args], capture_output=True, text=True)


def assert_clean_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("dnd: error")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture
def bad_files(tmp_path):
    files = {
        "json": '{"prompt": "ok", "answer": "a"}\n{"prompt": oops}\n',
        "noprompt": '{"prompt": "ok"}\n{"answer": "a"}\n',
        "choices": '{"prompt": "p", "answer": "c", "choices": ["a", "b"]}\n',
        "empty": "",
    }
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / f"{name}.jsonl"
        out[name].write_text(text)
    return out


@pytest.mark.parametrize("command", [
    ["eval", "--task-file"],
    ["generate", "--generator", "nowhere", "--out", "never_written", "--prompts"],
])
def test_task_file_errors_in_every_reader(command, bad_files, tmp_path):
    assert_clean_error(dnd(*command, str(bad_files["json"])), "json.jsonl:2", "invalid JSON")
    assert_clean_error(dnd(*command, str(bad_files["noprompt"])), "noprompt.jsonl:2", "prompt")
    assert_clean_error(dnd(*command, str(bad_files["choices"])), "choices.jsonl:1", "not among choices")
    assert_clean_error(dnd(*command, str(bad_files["empty"])), "empty.jsonl", "empty")
    assert_clean_error(dnd(*command, str(tmp_path / "missing.jsonl")), "missing.jsonl", "no such file")


def test_unknown_names_and_dirs(tmp_path):
    assert_clean_error(dnd("eval", "--task", "nosuch"), "nosuch")
    assert_clean_error(dnd("zoo", "--tasks", "nosuch", "--out", str(tmp_path / "z")), "nosuch")
    assert_clean_error(dnd("zoo", "--list", str(tmp_path)), "not a zoo")
    assert_clean_error(dnd("train", "--zoo", str(tmp_path), "--out", str(tmp_path / "g")), "not a zoo")
    p = tmp_path / "p.txt"
    p.write_text("a prompt\n")
    assert_clean_error(dnd("generate", "--generator", str(tmp_path), "--prompts", str(p), "--out", str(tmp_path / "a")),
                       "not a trained generator")
    assert_clean_error(dnd("reproduce", "--suite", "nosuch", "--out", str(tmp_path / "r")), "--suite")
    assert not (tmp_path / "z").exists() and not (tmp_path / "a").exists()


def test_unlabeled_file_for_eval(tmp_path):
    p = tmp_path / "p.txt"
    p.write_text("a prompt\n")
    assert_clean_error(dnd("eval", "--task-file", str(p)), "p.txt:1", "answer")
