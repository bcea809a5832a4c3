"""The shipped generator: export to bf16 with a manifest and a model card (dnd.cli.pretrained),
loading it as the default (dnd.generator.pretrained: `Generator.from_pretrained()`, `dnd
generate` without --generator), refusals."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from safetensors import safe_open

import dnd
from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.cli import pretrained as export
from dnd.cli.main import main as dnd_main
from dnd.errors import DndError
from dnd.fileio import read_json, sha256_file, write_json
from dnd.generator import config as C
from dnd.generator import pretrained as P
from dnd.generator.generate import Generator
from dnd.serving.nearest import SHIPPED as SHIPPED_INDEX
from dnd.serving.nearest import TaskIndex

PROMPTS = [f"Review: movie number {i} was fine. Positive or negative?" for i in range(8)]


@pytest.fixture(scope="module")
def shipped(tiny_residual_generator, tmp_path_factory):
    """The tiny residual generator exported as the shipped one is (bf16), via the CLI entry."""
    dst = tmp_path_factory.mktemp("shipped") / "gen"
    assert export.main(["export", str(tiny_residual_generator), "--dst", str(dst), "--no-check"]) == 0
    return dst


@pytest.fixture
def as_default(shipped, monkeypatch):
    monkeypatch.setenv(P.ENV, str(shipped))
    return shipped


def test_export_stores_bf16_that_loads_into_fp32(tiny_residual_generator, shipped):
    manifest = read_json(shipped / C.MANIFEST)
    assert set(manifest) == {C.WEIGHTS, C.REFERENCE, C.LAYOUT, C.CONFIG, C.LOSSES, SHIPPED_INDEX}
    for name in (C.WEIGHTS, C.REFERENCE):
        with safe_open(str(shipped / name), "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    assert (shipped / C.WEIGHTS).stat().st_size < 0.6 * (tiny_residual_generator / C.WEIGHTS).stat().st_size

    src, got = Generator.from_pretrained(tiny_residual_generator), Generator.from_pretrained(shipped)
    want = {k: v.to(torch.bfloat16).float() for k, v in src.decoder.state_dict().items()}
    for k, v in got.decoder.state_dict().items():
        assert v.dtype == torch.float32 and torch.equal(v, want[k]), k
    assert all(v.dtype == torch.float32 for v in got.reference.values())
    a, b = src.generate(PROMPTS), got.generate(PROMPTS)
    assert a.keys() == b.keys() and all(v.dtype == torch.float32 for v in b.values())
    num = sum(float(torch.sum((a[k] - b[k]) ** 2)) for k in a)
    assert 0 < (num / sum(float(torch.sum(v ** 2)) for v in a.values())) ** 0.5 < 1e-2  # bf16 rounding only


def test_model_card_is_written_from_the_config_and_keeps_the_hand_written_part(tiny_residual_generator, tmp_path):
    dst = tmp_path / "gen"
    export.export_pretrained(tiny_residual_generator, dst, check=False, task_index=False)
    card = (dst / export.MODEL_CARD).read_text()
    saved = read_json(tiny_residual_generator / C.CONFIG)
    assert f"| training tasks | {len(saved['tasks'])} (" in card and "zoo-mean" in card
    assert f"{saved['parameters']:,}" in card and "bf16 safetensors" in card and export.HAND_WRITTEN in card
    assert all(t in card.split("## Training tasks")[1] for t in saved["tasks"])
    losses = read_json(tiny_residual_generator / C.LOSSES)
    assert f"of the last 1 {losses[-1]:.4f}" in card
    (dst / export.MODEL_CARD).write_text(card.replace("TO FILL: the exact commands", "dnd train --seed 0 ..."))
    export.export_pretrained(tiny_residual_generator, dst, dtype="fp16", check=False, reference_dtype="fp32",
                        task_index=False)
    card = (dst / export.MODEL_CARD).read_text()
    assert "dnd train --seed 0 ..." in card and "fp16 safetensors (reference: fp32)" in card
    for name, dtype in ((C.WEIGHTS, torch.float16), (C.REFERENCE, torch.float32)):
        with safe_open(str(dst / name), "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {dtype}
    want = Generator.from_pretrained(tiny_residual_generator).reference
    assert all(torch.equal(v, want[k]) for k, v in Generator.from_pretrained(dst).reference.items())  # bit-exact


def test_python_api_and_dnd_generate_use_the_default(as_default, tiny_model, tmp_path, capsys):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    assert Generator.from_pretrained().saved == read_json(as_default / C.CONFIG)
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(PROMPTS))
    assert dnd_main(["generate", "--prompts", str(prompts), "--out", str(tmp_path / "a")]) == 0
    info = read_json(tmp_path / "a" / "dnd_generation.json")
    assert info["generator"] == str(as_default)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), tmp_path / "a")
    live = {k for k in model.state_dict() if "lora_" in k}
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "a" / ADAPTER_WEIGHTS)
    assert {k.replace(".weight", ".default.weight") for k in saved} == live  # every weight loaded, none missing
    assert model.peft_config["default"].r == 8  # reference rank 4 + delta rank 4


def _one_line_error(capsys, argv) -> str:
    assert dnd_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_a_corrupted_or_incomplete_copy_is_named(shipped, tmp_path, monkeypatch, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(shipped, broken)
    monkeypatch.setenv(P.ENV, str(broken))
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(PROMPTS))
    argv = ["generate", "--prompts", str(prompts), "--out", str(tmp_path / "a")]
    data = bytearray((broken / C.WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (broken / C.WEIGHTS).write_bytes(bytes(data))
    err = _one_line_error(capsys, argv)
    assert str(broken / C.WEIGHTS) in err and "checksum mismatch" in err
    (broken / C.REFERENCE).unlink()
    shutil.copyfile(shipped / C.WEIGHTS, broken / C.WEIGHTS)
    assert f"{broken / C.REFERENCE}: missing" in _one_line_error(capsys, argv)
    config = read_json(broken / C.CONFIG)
    config["lora"]["r"] = 5
    write_json(broken / C.CONFIG, config)
    shutil.copyfile(shipped / C.REFERENCE, broken / C.REFERENCE)
    assert f"{broken / C.CONFIG}: checksum mismatch" in _one_line_error(capsys, argv)
    assert not (tmp_path / "a").exists()


def test_without_a_shipped_generator_the_error_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(P.ENV, str(tmp_path / "none"))
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(PROMPTS))
    err = _one_line_error(capsys, ["generate", "--prompts", str(prompts), "--out", str(tmp_path / "a")])
    assert "no shipped generator" in err and "--generator" in err
    with pytest.raises(DndError, match="no shipped generator"):
        Generator.from_pretrained()


def test_the_default_location_is_inside_the_package(monkeypatch):
    monkeypatch.delenv(P.ENV, raising=False)
    package = dnd.__file__.rsplit("/", 1)[0]
    assert P.default_dir() == P.PRETRAINED_DIR and str(P.PRETRAINED_DIR).startswith(package)
    if (P.PRETRAINED_DIR / C.MANIFEST).exists():  # exported into this checkout: verified, within the limit
        gen = Generator.from_pretrained()
        assert gen.base_model["name"] == P.PRETRAINED_NAME
        assert sum(p.stat().st_size for p in P.PRETRAINED_DIR.iterdir()) <= export.MAX_BYTES
    else:
        with pytest.raises(DndError, match="no shipped generator"):
            P.resolve(None)


def test_dnd_serve_takes_the_default(as_default, tmp_path):
    from dnd.cli.main import build_parser
    from dnd.cli.serve_cmd import settings_from_args

    args = build_parser().parse_args(["serve", "--data", str(tmp_path / "data")])
    assert settings_from_args(args).generator == str(as_default)


def test_the_shipped_task_index_spares_serve_the_embedding(shipped, tmp_path, monkeypatch):
    gen = Generator.from_pretrained(shipped)
    built = TaskIndex(gen, tmp_path / "built", "fp", per_task=64, max_tokens=128)  # what serve would compute

    def refuse(*args):
        raise AssertionError("the shipped index must be read, not embedded again")

    monkeypatch.setattr(TaskIndex, "embed", refuse)
    index = TaskIndex(gen, tmp_path / "data", "fp", per_task=64, max_tokens=128, shipped=shipped / SHIPPED_INDEX)
    assert index.tasks == built.tasks == gen.saved["tasks"] and torch.allclose(index.means, built.means, atol=1e-6)
    assert not index.path.exists()  # read from the generator directory, nothing written


ABSOLUTE = re.compile(r"""(?:^|[\s`'"(\[=:,])(/(?:work|home|root|tmp|usr|opt|mnt|var|srv|Users|private)/"""
                      r"""|/[\w.-]+/[\w.-]+/|[A-Za-z]:\\)""")


def absolute_paths(directory) -> list[str]:
    """Absolute-looking paths in every file of `directory`: JSON strings that are absolute
    paths (POSIX or Windows), and path-like text in the rest (safetensors: the header)."""
    from pathlib import PurePosixPath, PureWindowsPath

    found = []
    for f in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = f.read_bytes()
        if f.suffix == ".safetensors":
            data = data[8: 8 + int.from_bytes(data[:8], "little")]  # the JSON header, metadata included
        text = data.decode("utf-8")
        if f.suffix == ".json":
            def strings(v):
                if isinstance(v, dict):
                    return [s for k, x in v.items() for s in (k, *strings(x))]
                return [s for x in v for s in strings(x)] if isinstance(v, list) else [v] if isinstance(v, str) else []
            found += [f"{f.name}: {s}" for s in strings(json.loads(text))
                      if PurePosixPath(s).is_absolute() or PureWindowsPath(s).is_absolute()]
        found += [f"{f.name}: {m.group(1)}" for m in ABSOLUTE.finditer(text)]
    return found


def test_no_shipped_file_holds_an_absolute_path():
    assert (P.PRETRAINED_DIR / C.MANIFEST).exists()
    assert absolute_paths(P.PRETRAINED_DIR.parent) == []


def test_the_scan_finds_absolute_paths(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"zoo": "/srv/x/zoo", "ok": "runs/zoo", "w": ["C:\\zoo"]}))
    (tmp_path / "card.md").write_text("exported from `/home/me/gen` (see results/unseen.md, zoo-mean)")
    found = absolute_paths(tmp_path)
    assert {"c.json: /srv/x/zoo", "c.json: C:\\zoo", "card.md: /home/"} <= set(found)
    assert not [f for f in found if "runs/zoo" in f or "results" in f]


def test_the_model_card_lists_the_shipped_sizes_and_the_manifest_holds():
    card = (P.PRETRAINED_DIR / export.MODEL_CARD).read_text()
    files = card.split("## Files")[1].split("##")[0]
    listed = dict(re.findall(r"^\| ([\w.]+) \| ([\d,]+) \|$", files, re.M))
    manifest = read_json(P.PRETRAINED_DIR / C.MANIFEST)
    assert set(listed) == {*manifest, C.MANIFEST}
    assert all(int(size.replace(",", "")) == (P.PRETRAINED_DIR / name).stat().st_size for name, size in listed.items())
    total = sum((P.PRETRAINED_DIR / name).stat().st_size for name in listed)
    assert f"{total / 1e6:.1f} MB on disk" in card
    assert all(sha256_file(P.PRETRAINED_DIR / name) == digest for name, digest in manifest.items())


def test_export_ships_no_absolute_path(tiny_residual_generator, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(tiny_residual_generator, src)
    saved = read_json(src / C.CONFIG)
    saved.update(zoo="/srv/runs/zoo-wide", reference="/srv/runs/zoo-wide/_multitask/wide/adapter")
    saved["base_model"]["name"] = P.PRETRAINED_NAME  # a name it keeps (the tiny model's is a temporary path)
    saved["config"]["reference"] = "/srv/runs/zoo-wide/_multitask/wide/adapter"
    write_json(src / C.CONFIG, saved)
    write_json(src / C.MANIFEST, {**read_json(src / C.MANIFEST), C.CONFIG: sha256_file(src / C.CONFIG)})
    dst = tmp_path / "gen"
    export.export_pretrained(src, dst, check=False, task_index=False)
    shipped = read_json(dst / C.CONFIG)
    assert shipped["zoo"] == "zoo-wide" and shipped["reference"] == shipped["config"]["reference"] == "adapter"
    assert absolute_paths(dst) == [] and Generator.from_pretrained(dst).saved == shipped  # manifest verified


def test_portable_path(tmp_path, monkeypatch):
    from dnd.fileio import portable_path

    monkeypatch.chdir(tmp_path)
    assert portable_path(tmp_path / "runs" / "zoo") == "runs/zoo" and portable_path("runs/zoo") == "runs/zoo"
    assert portable_path("zoo-mean of 3 tasks") == "zoo-mean of 3 tasks"
    assert portable_path("/elsewhere/zoo") == "/elsewhere/zoo" and portable_path("/elsewhere/zoo", strict=True) == "zoo"
