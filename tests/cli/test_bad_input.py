"""The bad-input battery: malformed inputs across every command. Each must end with exit
status 2 and one line on stderr naming the file, line or flag, no traceback, and leave
every file that existed before exactly as it was (nothing lost, nothing half-written).

Cases run in-process through `dnd.cli.main.main` (fast); one test runs the real entry
point as a subprocess to check the same contract end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from dnd.artifacts import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from dnd.cli.main import main
from dnd.fileio import read_json, sha256_file, write_json
from dnd.generator import config as C


def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file (hidden ones too) under `roots`."""
    out = {}
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_dnd(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code
    return code, capsys.readouterr().err


class World:
    """Inputs built in tmp_path, plus copies of the session's tiny zoo and generator."""

    def __init__(self, tmp: Path, zoo: Path, gen: Path, model: str, other_model: str):
        self.tmp, self.model, self.other_model = tmp, model, other_model
        self.zoo, self.gen = zoo, gen  # read-only session fixtures
        self.prompts = self.text("p.txt", "Review: a fine film. Positive or negative?\nIs water wet?\n")
        self.labeled = self.text("l.jsonl", '{"prompt": "Is it?", "answer": "yes", "choices": ["yes", "no"]}\n')

    def text(self, name: str, content: str) -> Path:
        path = self.tmp / name
        path.write_text(content)
        return path

    def raw(self, name: str, content: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(content)
        return path

    def adapter(self, name: str = "adapter") -> Path:
        """A copy of one of the zoo's checkpoints (a real PEFT adapter directory)."""
        manifest = read_json(self.zoo / "manifest.json")
        src = self.zoo / next(iter(manifest["tasks"].values()))["checkpoints"][0]["path"]
        return Path(shutil.copytree(src, self.tmp / name))

    def gen_copy(self, name: str = "gen") -> Path:
        return Path(shutil.copytree(self.gen, self.tmp / name))

    def zoo_copy(self, name: str = "zoo") -> Path:
        return Path(shutil.copytree(self.zoo, self.tmp / name))

    def folder(self, name: str, files: dict[str, str] | None = None) -> Path:
        """A directory holding `files` (name: text); empty without them."""
        path = self.tmp / name
        path.mkdir()
        for fname, text in (files or {}).items():
            (path / fname).write_text(text)
        return path

    def overwrite(self, directory: Path, name: str, text: str) -> Path:
        (directory / name).write_text(text)
        return directory

    def regenerate_manifest(self, gen: Path) -> None:
        """Make a tampered generator's manifest agree again (so the content check must catch it)."""
        manifest = read_json(gen / C.MANIFEST)
        write_json(gen / C.MANIFEST, {name: sha256_file(gen / name) for name in manifest})

    def generate(self, gen: Path, *extra) -> list:
        return ["generate", "--generator", gen, "--prompts", self.prompts, "--out", self.tmp / "out", *extra]


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# --- the cases: (id, build(world) -> argv, needles that the one error line must contain) ------

def _task_file_cases():
    def gen_with(w, name, content):
        f = w.raw(name, content) if isinstance(content, bytes) else w.text(name, content)
        return ["generate", "--generator", w.gen, "--prompts", f, "--out", w.tmp / "out"]

    def eval_with(w, name, content):
        f = w.text(name, content)
        return ["eval", "--task-file", f, "--base-model", w.model]

    return [
        ("prompts-missing", lambda w: w.generate(w.gen)[:3] + ["--prompts", w.tmp / "nope.txt", "--out", w.tmp / "o"],
         ["nope.txt", "no such file"]),
        ("prompts-empty", lambda w: gen_with(w, "e.txt", ""), ["e.txt", "empty"]),
        ("prompts-blank-lines", lambda w: gen_with(w, "b.txt", "\n \n\t\n"), ["b.txt", "empty"]),
        ("prompts-binary", lambda w: gen_with(w, "bin.txt", b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01"), ["bin.txt", "UTF-8"]),
        ("prompts-truncated-jsonl", lambda w: gen_with(w, "t.jsonl", '{"prompt": "a"}\n{"prompt": "b'),
         ["t.jsonl:2", "invalid JSON"]),
        ("prompts-directory", lambda w: gen_with(w, "x.txt", "x")[:3] + ["--prompts", w.tmp, "--out", w.tmp / "o"],
         ["is a directory"]),
        ("prompts-extension", lambda w: gen_with(w, "p.csv", "prompt\nhello\n"), ["p.csv", "extension"]),
        ("eval-invalid-json", lambda w: eval_with(w, "j.jsonl", '{"prompt": "ok", "answer": "a"}\n{"prompt": oops}\n'),
         ["j.jsonl:2", "invalid JSON"]),
        ("eval-prompt-wrong-type", lambda w: eval_with(w, "n.jsonl", '{"prompt": 42, "answer": "a"}\n'),
         ["n.jsonl:1", "prompt"]),
        ("eval-answer-wrong-type", lambda w: eval_with(w, "a.jsonl", '{"prompt": "p", "answer": 1}\n'),
         ["a.jsonl:1", "answer"]),
        ("eval-choices-not-list", lambda w: eval_with(w, "c.jsonl", '{"prompt": "p", "answer": "a", "choices": "a"}\n'),
         ["c.jsonl:1", "choices"]),
        ("eval-answer-not-a-choice", lambda w: eval_with(w, "d.jsonl", '{"prompt": "p", "answer": "c", "choices": ["a"]}\n'),
         ["d.jsonl:1", "not among choices"]),
        ("eval-row-not-object", lambda w: eval_with(w, "r.jsonl", '["prompt", "answer"]\n'), ["r.jsonl:1", "JSON object"]),
        ("eval-unlabeled", lambda w: ["eval", "--task-file", w.prompts, "--base-model", w.model], ["p.txt:1", "answer"]),
        ("tasks-check-missing", lambda w: ["tasks", "--check", w.tmp / "gone.jsonl"], ["gone.jsonl", "no such file"]),
    ]


def _flag_cases():
    return [
        ("zoo-steps-0", lambda w: ["zoo", "--tasks", "sst2", "--out", w.tmp / "z", "--steps", "0"], ["--steps", "0"]),
        ("zoo-keep-over-steps", lambda w: ["zoo", "--tasks", "sst2", "--out", w.tmp / "z", "--steps", "2", "--keep", "5",
                                           "--base-model", w.model], ["--keep"]),
        ("zoo-rank-text", lambda w: ["zoo", "--tasks", "sst2", "--out", w.tmp / "z", "--rank", "eight"], ["--rank"]),
        ("train-lr-negative", lambda w: ["train", "--zoo", w.zoo, "--out", w.tmp / "g", "--lr", "-1"], ["--lr"]),
        ("train-weight-decay-nan", lambda w: ["train", "--zoo", w.zoo, "--out", w.tmp / "g", "--weight-decay", "nan"],
         ["--weight-decay"]),
        ("train-batch-size-0", lambda w: ["train", "--zoo", w.zoo, "--out", w.tmp / "g", "--batch-size", "0"],
         ["--batch-size"]),
        ("train-max-time-0", lambda w: ["train", "--zoo", w.zoo, "--out", w.tmp / "g", "--max-time", "0"],
         ["--max-time"]),
        ("train-one-pass-without-top-layers", lambda w: ["train", "--zoo", w.zoo, "--out", w.tmp / "g", "--one-pass"],
         ["--one-pass", "--top-layers"]),
        ("eval-limit-0", lambda w: ["eval", "--task-file", w.labeled, "--limit", "0"], ["--limit"]),
        ("eval-shots-negative", lambda w: ["eval", "--task", "sst2", "--shots", "-2"], ["--shots"]),
        ("generate-seed-negative", lambda w: w.generate(w.gen, "--seed", "-1"), ["--seed"]),
        ("reproduce-n-prompts-text", lambda w: ["reproduce", "--suite", "short", "--out", w.tmp / "r", "--n-prompts", "x"],
         ["--n-prompts"]),
        ("reproduce-protocols", lambda w: ["reproduce", "--suite", "short", "--out", w.tmp / "r", "--protocols", "vibes"],
         ["--protocols"]),
        ("reproduce-suite", lambda w: ["reproduce", "--suite", "nosuch", "--out", w.tmp / "r"], ["--suite"]),
        ("tasks-n-0", lambda w: ["tasks", "--show", "sst2", "--n", "0"], ["--n"]),
        ("unknown-task", lambda w: ["eval", "--task", "nosuch"], ["nosuch"]),
    ]


def _gen_tampered(w, edit, sync=True):
    gen = w.gen_copy()
    edit(gen)
    if sync:
        w.regenerate_manifest(gen)
    return w.generate(gen)


def _set_json(path: Path, change) -> None:
    d = read_json(path)
    change(d)
    path.write_text(json.dumps(d))


def _artifact_cases():
    def flip_last_byte(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))

    def pickle_adapter(w):
        a = w.adapter()
        torch.save({"x": torch.zeros(1)}, a / "adapter_model.bin")  # what an old PEFT writes
        (a / ADAPTER_WEIGHTS).unlink()
        return ["eval", "--task-file", w.labeled, "--adapter", a, "--base-model", w.model]

    def truncated_adapter(w):
        a = w.adapter()
        truncate(a / ADAPTER_WEIGHTS)
        return ["eval", "--task-file", w.labeled, "--adapter", a, "--base-model", w.model]

    def pickle_as_safetensors(gen):
        torch.save({"x": torch.zeros(1)}, gen / C.WEIGHTS)  # a pickle under the safetensors name

    def other_rank(gen):
        _set_json(gen / "lora_layout.json", lambda d: d.update(shapes=[[s[0] * 2, s[1]] if ".lora_A." in k else
                                                                         [s[0], s[1] * 2]
                                                                         for k, s in zip(d["keys"], d["shapes"])]))

    def other_token_shape(gen):
        _set_json(gen / C.CONFIG, lambda d: d.update(token_shape=[d["token_shape"][0] + 1, *d["token_shape"][1:]]))

    def zoo_corrupt(w):
        z = w.zoo_copy()
        manifest = read_json(z / "manifest.json")
        flip_last_byte(z / next(iter(manifest["tasks"].values()))["checkpoints"][0]["path"] / ADAPTER_WEIGHTS)
        return ["zoo", "--list", z]

    return [
        ("generator-is-a-zoo", lambda w: w.generate(w.zoo), ["--generator", "is a zoo directory"]),
        ("generator-is-an-adapter", lambda w: w.generate(w.adapter()), ["--generator", "adapter"]),
        ("generator-is-empty-dir", lambda w: w.generate(w.folder("empty")), ["not a trained generator"]),
        ("adapter-is-a-zoo", lambda w: ["eval", "--task-file", w.labeled, "--adapter", w.zoo], ["--adapter", "not a PEFT"]),
        ("adapter-is-a-pickle", pickle_adapter, ["--adapter", "only safetensors"]),
        ("adapter-truncated", truncated_adapter, [ADAPTER_WEIGHTS, "truncated"]),
        ("adapter-config-invalid", lambda w: ["eval", "--task-file", w.labeled, "--adapter",
                                              w.overwrite(w.adapter(), ADAPTER_CONFIG, "{r: 8"), "--base-model", w.model],
         [ADAPTER_CONFIG, "invalid JSON"]),
        ("zoo-is-a-generator", lambda w: ["train", "--zoo", w.gen, "--out", w.tmp / "g"], ["is a generator directory"]),
        ("zoo-list-not-a-zoo", lambda w: ["zoo", "--list", w.tmp], ["not a zoo"]),
        ("zoo-manifest-invalid", lambda w: ["zoo", "--list", w.overwrite(w.zoo_copy(), "manifest.json", '{"format": ')],
         ["manifest.json", "unreadable"]),
        ("zoo-checkpoint-corrupt", zoo_corrupt, [ADAPTER_WEIGHTS, "checksum mismatch"]),
        ("generator-checksum-mismatch", lambda w: _gen_tampered(w, lambda g: flip_last_byte(g / C.WEIGHTS), sync=False),
         [C.WEIGHTS, "checksum mismatch"]),
        ("generator-truncated", lambda w: _gen_tampered(w, lambda g: truncate(g / C.WEIGHTS)), [C.WEIGHTS, "truncated"]),
        ("generator-pickle", lambda w: _gen_tampered(w, pickle_as_safetensors), [C.WEIGHTS, "safetensors"]),
        ("generator-config-invalid", lambda w: _gen_tampered(w, lambda g: (g / C.CONFIG).write_text("{")),
         [C.CONFIG, "invalid JSON"]),
        ("generator-other-layout", lambda w: _gen_tampered(w, other_rank), ["lora_layout.json", "rank"]),
        ("generator-other-token-grid", lambda w: _gen_tampered(w, other_token_shape), [C.CONFIG, "layout"]),
        ("generator-other-base-model", lambda w: w.generate(w.gen, "--base-model", w.other_model),
         ["--base-model", "was built for"]),
    ]


def _output_cases():
    return [
        ("out-unwritable", lambda w: w.generate(w.gen)[:-1] + ["/proc/dnd-forbidden/adapter"], ["--out", "/proc"]),
        ("out-under-a-file", lambda w: w.generate(w.gen)[:-1] + [w.prompts / "adapter"], ["--out", "is a file"]),
        ("out-is-a-file", lambda w: ["zoo", "--tasks", "sst2", "--out", w.prompts], ["--out", "is a file"]),
        ("out-holds-a-zoo", lambda w: w.generate(w.gen)[:-1] + [w.zoo_copy()], ["--out", "already holds a zoo"]),
        ("out-holds-other-files", lambda w: w.generate(w.gen)[:-1] + [w.folder("docs", {"notes.md": "mine"})],
         ["--out", "already holds"]),
        ("train-out-holds-a-zoo", lambda w: ["train", "--zoo", w.zoo, "--out", w.zoo_copy()], ["--out", "already holds a zoo"]),
        ("zoo-out-holds-a-generator", lambda w: ["zoo", "--tasks", "sst2", "--out", w.gen_copy()],
         ["--out", "already holds a generator"]),
        ("reproduce-zoo-is-a-generator", lambda w: ["reproduce", "--suite", "short", "--out", w.tmp / "r",
                                                    "--zoo", w.gen_copy()], ["--zoo", "already holds a generator"]),
    ]


CASES = _task_file_cases() + _flag_cases() + _artifact_cases() + _output_cases()


def test_the_battery_is_large():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


@pytest.fixture
def world(tmp_path, tiny_zoo, tiny_generator, tiny_model, other_tiny_model):
    return World(tmp_path, tiny_zoo, tiny_generator, tiny_model, other_tiny_model)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, world, capsys, tiny_zoo, tiny_generator):
    _, build, needles = case
    argv = build(world)
    before = snapshot(world.tmp, tiny_zoo, tiny_generator)
    capsys.readouterr()
    code, err = run_dnd(argv, capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("dnd: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert snapshot(world.tmp, tiny_zoo, tiny_generator) == before  # nothing written, changed or lost


def test_entry_point_prints_one_line(tmp_path):
    """The installed command itself (not just `main`): one line, exit 2, no traceback."""
    r = subprocess.run([sys.executable, "-m", "dnd.cli", "zoo", "--tasks", "rte", "--steps", "0", "--out",
                        str(tmp_path / "z")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "--steps" in r.stderr and "Traceback" not in r.stderr and not (tmp_path / "z").exists()
    r = subprocess.run([sys.executable, "-m", "dnd.cli", "eval", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "95% Wilson" in r.stdout and "%%" not in r.stdout


def test_no_pickle_loader_in_the_package():
    """Artifacts are read as safetensors and JSON only: nothing in the package unpickles."""
    import re

    import dnd

    pattern = re.compile(r"torch\.load\(|pickle\.loads?\(|weights_only\s*=\s*False|joblib\.load|numpy\.load\(|np\.load\(")
    hits = [f"{p}:{n}" for p in Path(dnd.__file__).parent.rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []


def test_every_numeric_flag_is_range_checked():
    """No flag is parsed by bare int/float: a 0 or a negative can never slip through as 'default'."""
    import argparse

    from dnd.cli import args as checked
    from dnd.cli.main import build_parser

    allowed = {checked.positive_int, checked.nonneg_int, checked.positive_float, checked.nonneg_float}
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    bare = [f"{name} {opt}" for name, p in sub.choices.items() for a in p._actions for opt in a.option_strings[:1]
            if a.type in (int, float)]
    typed = [a for p in sub.choices.values() for a in p._actions if a.type in allowed]
    assert bare == [] and len(typed) >= 30
