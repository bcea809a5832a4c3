"""PEFT LoRA -> GGUF LoRA (dnd.llamacpp.export): metadata, names, the q/k row order, and
the one-line refusals. No llama.cpp here (test_llamacpp.py loads the files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dnd.cli.main import main
from dnd.llamacpp.export import GGUF_NAME, export_gguf, permute_rows


def make_peft(base: str, out: Path, seed: int = 0, **config) -> Path:
    """A PEFT LoRA of `base` with random A and B (saved by PEFT itself)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    cfg = dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
               task_type="CAUSAL_LM")
    peft = get_peft_model(model, LoraConfig(**{**cfg, **config}))
    with torch.no_grad():
        for n, p in peft.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    peft.save_pretrained(out)
    return out


def read_gguf(path: Path):
    import gguf

    r = gguf.GGUFReader(path)
    fields = {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: np.array(t.data) for t in r.tensors}
    return fields, tensors


def test_metadata_names_and_values(tiny_model, tmp_path):
    from safetensors.torch import load_file

    adapter = make_peft(tiny_model, tmp_path / "a")
    out = export_gguf(adapter, outtype="f32")
    assert out == adapter / GGUF_NAME
    fields, tensors = read_gguf(out)
    assert fields["general.type"] == "adapter" and fields["general.architecture"] == "llama"
    assert fields["adapter.type"] == "lora" and fields["adapter.lora.alpha"] == 8.0
    # 2 layers x 5 modules x (a, b)
    assert len(tensors) == 20 and "blk.1.ffn_down.weight.lora_a" in tensors
    state = load_file(adapter / "adapter_model.safetensors")
    pre = "base_model.model.model.layers.1."
    a, b = state[pre + "self_attn.v_proj.lora_A.weight"], state[pre + "self_attn.v_proj.lora_B.weight"]
    np.testing.assert_array_equal(tensors["blk.1.attn_v.weight.lora_a"], a.numpy())  # (r, in)
    np.testing.assert_array_equal(tensors["blk.1.attn_v.weight.lora_b"], b.numpy())  # (out, r)
    # q and k: B's rows in llama.cpp's rotary order (4 heads, 2 kv heads), A untouched
    qb, kb = state[pre + "self_attn.q_proj.lora_B.weight"], state[pre + "self_attn.k_proj.lora_B.weight"]
    np.testing.assert_array_equal(tensors["blk.1.attn_q.weight.lora_b"], permute_rows(qb, 4).numpy())
    np.testing.assert_array_equal(tensors["blk.1.attn_k.weight.lora_b"], permute_rows(kb, 2).numpy())
    assert not np.array_equal(permute_rows(qb, 4).numpy(), qb.numpy())
    np.testing.assert_array_equal(tensors["blk.1.attn_q.weight.lora_a"],
                                  state[pre + "self_attn.q_proj.lora_A.weight"].numpy())


def test_f16_is_half_the_size(tiny_model, tmp_path):
    adapter = make_peft(tiny_model, tmp_path / "a")
    f32 = export_gguf(adapter, tmp_path / "a32.gguf", outtype="f32")
    f16 = export_gguf(adapter, tmp_path / "a16.gguf", outtype="f16")
    _, t32 = read_gguf(f32)
    _, t16 = read_gguf(f16)
    assert t16["blk.0.attn_v.weight.lora_b"].dtype == np.float16
    np.testing.assert_allclose(t16["blk.0.attn_v.weight.lora_b"], t32["blk.0.attn_v.weight.lora_b"], atol=1e-3)
    assert f16.stat().st_size < 0.7 * f32.stat().st_size


def test_permutation_is_the_packaged_ggufs(tmp_path):
    """The row order applied to B is the one the packaged GGUF itself uses: its attn_q and
    attn_k weights, dequantized, are the transformers checkpoint's q_proj/k_proj (converted
    from that same file) with exactly this permutation."""
    import gguf
    from safetensors import safe_open

    from dnd.assets import resolve_base_model
    from dnd.llamacpp.runtime import base_gguf

    r = gguf.GGUFReader(base_gguf())
    by_name = {t.name: t for t in r.tensors}
    with safe_open(Path(resolve_base_model()) / "model.safetensors", "pt") as sf:
        for hf, name, heads in (("q_proj", "blk.5.attn_q.weight", 9), ("k_proj", "blk.5.attn_k.weight", 3)):
            t = by_name[name]
            w = gguf.quants.dequantize(t.data, t.tensor_type).reshape(t.shape[::-1])  # (out, in)
            ours = sf.get_tensor(f"model.layers.5.self_attn.{hf}.weight")
            np.testing.assert_allclose(w, permute_rows(ours, heads).numpy(), atol=1e-6)
            assert not np.allclose(w, ours.numpy(), atol=1e-3)


def run_dnd(argv, capsys) -> tuple[int, str]:
    capsys.readouterr()  # what set-up printed (progress bars) is not the command's
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("config, says", [
    ({"use_dora": True}, "DoRA"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
    ({"bias": "lora_only"}, "bias"),
])
def test_refused_adapters(tiny_model, tmp_path, capsys, config, says):
    adapter = make_peft(tiny_model, tmp_path / "a", **config)
    code, err = run_dnd(["export-gguf", adapter], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and says in err and str(adapter) in err
    assert not (adapter / GGUF_NAME).exists()


def test_adapter_of_another_base(tiny_model, tmp_path, capsys):
    adapter = make_peft(tiny_model, tmp_path / "a")  # hidden 32: does not fit SmolLM2's 576
    code, err = run_dnd(["export-gguf", adapter, "--base-model", "smollm2-135m-instruct"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "another base model" in err
    # a dnd adapter records its base's weight hash: a different hash is refused before any shape
    (adapter / "dnd_generation.json").write_text(json.dumps({"base_model": {"weights_sha256": "ab" * 32}}))
    code, err = run_dnd(["export-gguf", adapter, "--base-model", "smollm2-135m-instruct"], capsys)
    assert code == 2 and "made for another base model" in err
    code, err = run_dnd(["export-gguf", tmp_path / "nothing"], capsys)
    assert code == 2 and "nothing" in err and "not a directory" in err


def test_cli_writes_the_file(tiny_model, tmp_path, capsys):
    adapter = make_peft(tiny_model, tmp_path / "a")
    code = main(["export-gguf", str(adapter), "--out", str(tmp_path / "x.gguf")])
    assert code == 0 and "x.gguf" in capsys.readouterr().out
    fields, tensors = read_gguf(tmp_path / "x.gguf")
    assert fields["adapter.type"] == "lora" and tensors["blk.0.attn_q.weight.lora_a"].dtype == np.float16
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_generate_formats(tiny_generator, tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(f"Is {i} even? Answer yes or no." for i in range(8)))
    assert main(["generate", "--generator", str(tiny_generator), "--prompts", str(prompts),
                 "--out", str(tmp_path / "both"), "--format", "both"]) == 0
    assert (tmp_path / "both" / "adapter_model.safetensors").is_file()
    fields, both = read_gguf(tmp_path / "both" / GGUF_NAME)
    assert main(["generate", "--generator", str(tiny_generator), "--prompts", str(prompts),
                 "--out", str(tmp_path / "only.gguf"), "--format", "gguf"]) == 0
    _, only = read_gguf(tmp_path / "only.gguf")
    assert sorted(both) == sorted(only) and all(np.array_equal(both[k], only[k]) for k in both)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["both", "only.gguf", "p.txt"]  # the temporary PEFT dir is gone
    assert main(["generate", "--generator", str(tiny_generator), "--prompts", str(prompts),
                 "--out", str(tmp_path / "peft")]) == 0
    assert not (tmp_path / "peft" / GGUF_NAME).exists()  # the default format is PEFT only
