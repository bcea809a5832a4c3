"""Generate -> a PEFT adapter that loads and changes the model; refusals through the CLI."""

from __future__ import annotations

import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file

from dnd.artifacts import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from dnd.fileio import read_json, sha256_file, write_json
from dnd.generator import config as C
from dnd.generator.generate import Generator


def dnd(*args):
    return subprocess.run([sys.executable, "-m", "dnd.cli", *args], capture_output=True, text=True)


def prompts_file(tmp_path, n=8, name="p.txt"):
    path = tmp_path / name
    path.write_text("\n".join(f"Review: movie number {i} was fine. Positive or negative?" for i in range(n)))
    return path


def logits(model, tok):
    batch = tok(["Is the sky blue? Answer yes or no."], return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


def test_generated_adapter_loads_and_changes_logits(tiny_generator, tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "adapter"
    r = dnd("generate", "--generator", str(tiny_generator), "--prompts", str(prompts_file(tmp_path)), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "adapter written to" in r.stdout and " s " in r.stdout
    assert (out / ADAPTER_CONFIG).exists() and (out / ADAPTER_WEIGHTS).exists()
    assert read_json(out / ADAPTER_CONFIG)["r"] == 4

    tok = AutoTokenizer.from_pretrained(tiny_model)
    base_logits = logits(AutoModelForCausalLM.from_pretrained(tiny_model).eval(), tok)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out).eval()
    saved = load_file(out / ADAPTER_WEIGHTS)
    live = {k: v for k, v in model.state_dict().items() if "lora_" in k}
    assert len(saved) == len(live)
    for k, v in saved.items():
        assert torch.equal(live[k.replace(".weight", ".default.weight")], v)  # no missing / unexpected keys
    assert not torch.allclose(logits(model, tok), base_logits)

    # the same adapter with every lora_B zeroed is exactly the base model
    zero = tmp_path / "zero"
    zero.mkdir()
    (zero / ADAPTER_CONFIG).write_text((out / ADAPTER_CONFIG).read_text())
    save_file({k: torch.zeros_like(v) if "lora_B" in k else v for k, v in saved.items()}, zero / ADAPTER_WEIGHTS)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), zero).eval()
    assert torch.equal(logits(model, tok), base_logits)


def test_python_api(tiny_generator, tmp_path):
    gen = Generator.from_pretrained(tiny_generator)
    state = gen.generate(["a prompt", "another prompt"] * 4)
    assert all(torch.isfinite(v).all() for v in state.values())
    assert gen.generate(["a prompt", "another prompt"] * 4).keys() == state.keys()
    path = gen.save_adapter(state, tmp_path / "a")
    assert torch.equal(load_file(path / ADAPTER_WEIGHTS)[gen.layout.keys[0]], state[gen.layout.keys[0]])


def test_too_few_prompts_warns(tiny_generator, tmp_path):
    r = dnd("generate", "--generator", str(tiny_generator), "--prompts", str(prompts_file(tmp_path, n=2)),
            "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert "warning: 2 prompts given" in r.stdout
    assert (tmp_path / "a" / ADAPTER_WEIGHTS).exists()


def test_zero_prompts_is_an_error(tiny_generator, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    r = dnd("generate", "--generator", str(tiny_generator), "--prompts", str(empty), "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and "empty" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "a").exists()


def test_other_base_model_is_refused(tiny_generator, other_tiny_model, tmp_path):
    r = dnd("generate", "--generator", str(tiny_generator), "--prompts", str(prompts_file(tmp_path)),
            "--out", str(tmp_path / "a"), "--base-model", other_tiny_model)
    assert r.returncode == 2 and "was built for" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "a").exists()


def test_non_finite_weights_are_refused(tiny_generator, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_generator, broken)
    weights = load_file(broken / C.WEIGHTS)
    weights["out_bias"] = torch.full_like(weights["out_bias"], float("nan"))
    save_file(weights, broken / C.WEIGHTS)
    manifest = read_json(broken / C.MANIFEST)
    manifest[C.WEIGHTS] = sha256_file(broken / C.WEIGHTS)
    write_json(broken / C.MANIFEST, manifest)
    out = tmp_path / "a"
    r = dnd("generate", "--generator", str(broken), "--prompts", str(prompts_file(tmp_path)), "--out", str(out))
    assert r.returncode == 2 and "not finite" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_corrupted_generator_is_named(tiny_generator, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_generator, broken)
    data = bytearray((broken / C.WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (broken / C.WEIGHTS).write_bytes(bytes(data))
    r = dnd("generate", "--generator", str(broken), "--prompts", str(prompts_file(tmp_path)), "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and C.WEIGHTS in r.stderr and "checksum" in r.stderr
