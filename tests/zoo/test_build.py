"""The zoo on a tiny random model: manifest, loadable checkpoints, resume, integrity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from conftest import build_tiny_zoo
from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.fileio import read_json, sha256_file
from dnd.zoo import manifest as mf


def dnd(*args, **kw):
    return subprocess.run([sys.executable, "-m", "dnd.cli", *args], capture_output=True, text=True, **kw)


def zoo_args(zoo: Path, model: str, tasks="sst2,boolq", steps="6", keep="3"):
    return ["zoo", "--tasks", tasks, "--out", str(zoo), "--base-model", model, "--rank", "4", "--alpha", "8",
            "--steps", steps, "--keep", keep, "--batch-size", "2", "--lr", "1e-2", "--max-length", "64"]


def test_manifest_is_complete(tiny_zoo):
    m = mf.load_manifest(tiny_zoo)
    assert set(m["tasks"]) == {"sst2", "boolq"}
    assert m["base_model"]["weights_sha256"] and m["lora"]["r"] == 4
    for task, e in m["tasks"].items():
        assert [c["step"] for c in e["checkpoints"]] == [4, 5, 6]
        assert e["train_pool"] > 0 and e["wall_time_s"] > 0 and e["full_shot"]["wall_time_s"] > 0
        assert len(read_json(tiny_zoo / e["losses"])) == 6
        for c in e["checkpoints"]:
            assert sha256_file(tiny_zoo / c["path"] / ADAPTER_WEIGHTS) == c["sha256"]
    mf.verify(tiny_zoo, m)


def test_checkpoints_load_with_peft_and_differ(tiny_zoo, tiny_model):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    m = mf.load_manifest(tiny_zoo)
    weights = {}
    for task in m["tasks"]:
        for path in mf.checkpoint_paths(tiny_zoo, m, task) + [tiny_zoo / m["tasks"][task]["full_shot"]["path"]]:
            base = AutoModelForCausalLM.from_pretrained(tiny_model)
            model = PeftModel.from_pretrained(base, path)
            saved = load_file(path / ADAPTER_WEIGHTS)
            loaded = {k: v for k, v in model.state_dict().items() if "lora_" in k}
            # every saved tensor went in (no unexpected keys) and every LoRA weight came from the file
            assert len(saved) == len(loaded) > 0
            for k, v in saved.items():
                live = k.replace(".weight", ".default.weight")
                assert torch.equal(loaded[live], v), k
            weights[(task, path.name)] = torch.cat([v.flatten() for _, v in sorted(saved.items())])
    sst2 = [v for (t, _), v in weights.items() if t == "sst2"]
    boolq = [v for (t, _), v in weights.items() if t == "boolq"]
    assert not torch.equal(sst2[0], sst2[1]) and not torch.equal(sst2[1], sst2[2])
    assert all(not torch.equal(a, b) for a in sst2 for b in boolq)


def test_resume_after_kill_keeps_first_task(tmp_path, tiny_model):
    zoo = tmp_path / "zoo"
    # Enough steps that the second task is still training when the first one lands.
    proc = subprocess.Popen([sys.executable, "-m", "dnd.cli", *zoo_args(zoo, tiny_model, steps="60")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (zoo / mf.MANIFEST).exists() and read_json(zoo / mf.MANIFEST)["tasks"]:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    tasks = read_json(zoo / mf.MANIFEST)["tasks"]
    assert list(tasks) == ["sst2"], "the kill should land while the second task trains"
    first = {p: (p.stat().st_mtime_ns, sha256_file(p)) for p in (zoo / "sst2").rglob("*") if p.is_file()}
    r = dnd(*zoo_args(zoo, tiny_model, steps="60"))
    assert r.returncode == 0, r.stderr
    assert "1 task(s) already in" in r.stdout
    m = mf.load_manifest(zoo)
    assert set(m["tasks"]) == {"sst2", "boolq"}
    assert {p: (p.stat().st_mtime_ns, sha256_file(p)) for p in (zoo / "sst2").rglob("*") if p.is_file()} == first
    mf.verify(zoo, m)


def test_corrupted_checkpoint_is_named(tmp_path, tiny_model):
    zoo = tmp_path / "zoo"
    build_tiny_zoo(zoo, tiny_model, tasks=("sst2",), steps=3, keep=2)
    bad = zoo / "sst2" / "checkpoints" / "step_000002" / ADAPTER_WEIGHTS
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    r = dnd("zoo", "--list", str(zoo))
    assert r.returncode == 2
    assert "step_000002" in r.stderr and "checksum mismatch" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_other_base_model_is_refused(tmp_path, tiny_model, other_tiny_model):
    zoo = tmp_path / "zoo"
    build_tiny_zoo(zoo, tiny_model, tasks=("sst2",), steps=2, keep=1)
    r = dnd(*zoo_args(zoo, other_tiny_model, tasks="boolq", steps="2", keep="1"))
    assert r.returncode == 2
    assert "built for base model" in r.stderr and "Traceback" not in r.stderr
    assert list(read_json(zoo / mf.MANIFEST)["tasks"]) == ["sst2"]


def test_list_and_plot(tiny_zoo):
    r = dnd("zoo", "--list", str(tiny_zoo))
    assert r.returncode == 0, r.stderr
    assert "sst2" in r.stdout and "all checksums OK" in r.stdout
    r = dnd("zoo", "--plot", str(tiny_zoo))
    assert r.returncode == 0, r.stderr
    png = Path(r.stdout.strip())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_top_layers_trains_only_the_top_layers(tmp_path, tiny_model):
    from dnd.lora.attach import layer_of

    zoo = tmp_path / "zoo"
    r = dnd(*zoo_args(zoo, tiny_model, tasks="sst2", steps="3", keep="1"), "--top-layers", "1")
    assert r.returncode == 0, r.stderr
    m = mf.load_manifest(zoo)
    assert m["tasks"]["sst2"]["top_layers"] == 1
    state = load_file(zoo / m["tasks"]["sst2"]["full_shot"]["path"] / ADAPTER_WEIGHTS)
    top = max(layer_of(k) for k in state)
    for key, value in state.items():
        # the full shape is kept; below the top layer every lora_B is zero, above it trained
        if "lora_B" in key:
            assert (value.abs().sum() > 0) == (layer_of(key) == top), key
    r = dnd(*zoo_args(tmp_path / "z2", tiny_model, tasks="sst2", steps="3", keep="1"), "--top-layers", "-1")
    assert r.returncode == 2 and "--top-layers" in r.stderr and "Traceback" not in r.stderr
