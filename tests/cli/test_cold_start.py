"""A cold `dnd generate` stays light: building the parser imports no torch, and generating
with the shipped generator imports neither sentence-transformers, transformers nor peft
(seconds of start-up each), while writing the adapter the sentence-transformers path writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

HEAVY = ("torch", "sentence_transformers", "transformers", "peft", "sklearn")
PROBE = """
import json, sys
from dnd.cli.main import {call}
code = {run}
print(json.dumps({{"code": code, "heavy": sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))}}))
"""


def probe(call: str, run: str, env: dict | None = None) -> dict:
    """Run `run` in a fresh interpreter; its exit code and which HEAVY packages it imported."""
    r = subprocess.run([sys.executable, "-c", PROBE.format(call=call, run=run, heavy=HEAVY)], capture_output=True,
                       text=True, env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_building_the_parser_imports_no_torch():
    assert probe("build_parser", "build_parser() and 0")["heavy"] == []


def test_benchmark_methods_match_the_benchmark():
    from dnd.cli.benchmark_cmd import METHODS
    from dnd.evaluation.unseen import METHODS as RUN_METHODS

    assert METHODS == RUN_METHODS


def test_generate_imports_only_torch_and_writes_the_sentence_transformers_adapter(tmp_path, monkeypatch):
    from dnd.generator.generate import Generator

    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(f"Review: film number {i} was {'fine' if i % 2 else 'dull'}. Positive?"
                                 for i in range(40)))
    env = {"DND_CACHE": str(tmp_path / "cache"), "DND_PRETRAINED": "", "DND_ENCODER_BACKEND": ""}  # shipped generator
    for n in range(2):  # the first run fills the adapter-config cache (peft, once); the second is a cold start
        args = ["generate", "--prompts", str(prompts), "--out", str(tmp_path / f"a{n}")]
        got = probe("main", f"main({args!r})", env)
        assert got["code"] == 0
    assert got["heavy"] == ["torch"]

    monkeypatch.setenv("DND_ENCODER_BACKEND", "sentence-transformers")
    want = Generator.from_pretrained().generate(prompts.read_text().splitlines())  # seed 0, as dnd generate
    for n in range(2):
        written = load_file(tmp_path / f"a{n}" / "adapter_model.safetensors")
        assert written.keys() == want.keys() and all(torch.equal(written[k], want[k]) for k in want)


def test_generate_as_a_process_exits_fast_keeping_its_files_and_messages(tmp_path):
    """`dnd generate` run as a process skips the interpreter's teardown (os._exit): its
    adapter is whole, its report line and its errors still reach the pipes, codes intact."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(f"Is review {i} positive?" for i in range(8)))
    env = {**os.environ, "DND_CACHE": str(tmp_path / "cache"), "DND_PRETRAINED": ""}
    cmd = [sys.executable, "-m", "dnd.cli", "generate", "--prompts"]
    r = subprocess.run([*cmd, str(prompts), "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "adapter written to" in r.stdout.splitlines()[-1]
    assert load_file(tmp_path / "a" / "adapter_model.safetensors")
    assert json.loads((tmp_path / "a" / "dnd_generation.json").read_text())["adapter_sha256"]
    r = subprocess.run([*cmd, str(tmp_path / "missing.txt"), "--out", str(tmp_path / "b")], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 2 and r.stderr.startswith("dnd: error:") and "missing.txt" in r.stderr
