"""A real llama.cpp client (llama-cpp-python, installed by `make setup`) on the packaged
SmolLM2-135M-Instruct Q4_1 GGUF, with and without a GGUF LoRA that the shipped generator
made and dnd.llamacpp.export converted.

What is compared: llama.cpp runs the Q4_1 weights (its CPU kernels also round the
activations to 8 bits for the dot products) with the LoRA in f16; transformers + PEFT run
the same weights dequantized to fp32 with the fp32 LoRA. The weights are the same numbers,
the arithmetic is not, so logits differ by a little and a greedy answer can flip where two
tokens are nearly tied: agreement is high, not total (at least 18 of 20 answers).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dnd.llamacpp.export import export_gguf
from dnd.llamacpp.runtime import base_gguf, greedy, last_logits, load_llama

N_NEW = 12  # new tokens per answer


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    """The shipped generator's adapter for BoolQ (32 train-pool prompts), PEFT + GGUF."""
    from dnd.generator.generate import Generator
    from dnd.tasks.registry import load_pools

    gen = Generator.from_pretrained()
    train, _ = load_pools("boolq")
    out = tmp_path_factory.mktemp("llamacpp") / "boolq"
    gen.save_adapter(gen.generate([it.prompt for it in train[:32]]), out)
    export_gguf(out)
    return out


@pytest.fixture(scope="module")
def prompts():
    """20 eval-pool prompts, 5 from each of four tasks, chat-formatted as the zoo formats them."""
    from dnd.assets import load_tokenizer
    from dnd.tasks.registry import load_pools
    from dnd.lora.prompt import format_prompt

    tok = load_tokenizer()
    out = []
    for task in ("boolq", "sst2", "arc_e", "piqa"):
        _, evals = load_pools(task)
        out += [tok(format_prompt(tok, it.prompt), add_special_tokens=False)["input_ids"][-400:] for it in evals[:5]]
    return out


@pytest.fixture(scope="module")
def hf(adapter):
    """transformers + PEFT, fp32: the base model and the same adapter."""
    from peft import PeftModel

    from dnd.assets import load_base_model
    from dnd.lora.prompt import end_of_turn_id

    model, tok = load_base_model()
    peft = PeftModel.from_pretrained(model, str(adapter)).eval()
    return peft, tok, sorted({end_of_turn_id(tok), tok.eos_token_id})


def hf_greedy(peft, ids: list[int], stop_ids: list[int]) -> list[int]:
    x = torch.tensor([ids])
    with torch.inference_mode():
        out = peft.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=N_NEW, do_sample=False,
                            temperature=None, top_p=None, top_k=None, eos_token_id=stop_ids, pad_token_id=stop_ids[0])
    return out[0, len(ids):].tolist()


def test_lora_changes_the_logits_as_peft_does(adapter, prompts, hf):
    """The GGUF LoRA moves llama.cpp's logits, and in the direction PEFT's moves fp32's:
    a wrong tensor name, a transposed matrix or the q/k rows in the wrong order would give
    a shift uncorrelated with PEFT's."""
    peft, _, _ = hf
    base = load_llama(base_gguf(), logits_all=True)
    lora = load_llama(base_gguf(), lora=adapter / "adapter_model.gguf", logits_all=True)
    for ids in prompts[:3]:
        lb, ll = last_logits(base, ids), last_logits(lora, ids)
        with torch.inference_mode():
            x = torch.tensor([ids])
            hl = peft(input_ids=x).logits[0, -1].numpy()
            with peft.disable_adapter():
                hb = peft(input_ids=x).logits[0, -1].numpy()
        d_cpp, d_hf = ll - lb, hl - hb
        assert np.abs(d_cpp).max() > 0.5  # the adapter does something
        assert np.corrcoef(d_cpp, d_hf)[0, 1] > 0.9
        assert np.corrcoef(lb, hb)[0, 1] > 0.99  # the two runtimes agree on the base model too


def test_greedy_answers_agree_with_transformers(adapter, prompts, hf):
    peft, tok, stop_ids = hf
    lora = load_llama(base_gguf(), lora=adapter / "adapter_model.gguf")
    base = load_llama(base_gguf())
    cpp = [greedy(lora, ids, N_NEW, stop_ids) for ids in prompts]
    cpp_base = [greedy(base, ids, N_NEW, stop_ids) for ids in prompts]
    ref = [hf_greedy(peft, ids, stop_ids) for ids in prompts]
    same = sum(a == b for a, b in zip(cpp, ref))
    first = sum(a[:1] == b[:1] for a, b in zip(cpp, ref))
    changed = sum(a != b for a, b in zip(cpp, cpp_base))
    print(f"\nllama.cpp Q4_1 + GGUF LoRA vs transformers fp32 + PEFT: {same}/20 answers identical "
          f"({N_NEW} tokens), {first}/20 first tokens; the adapter changes {changed}/20 llama.cpp answers")
    assert same >= 18
    assert changed >= 1


def test_f16_copy_keeps_the_packaged_values():
    """`dnd serve --engine llamacpp` runs the packaged weights stored as f16: the same values
    as the Q4_1 file to f16 rounding."""
    import gguf

    from dnd.llamacpp.runtime import requantized

    src = base_gguf()
    copy = requantized(src, "f16")
    assert requantized(src, "f16") == copy  # made once, then found
    a = {t.name: t for t in gguf.GGUFReader(src).tensors}
    b = {t.name: t for t in gguf.GGUFReader(copy).tensors}
    assert sorted(a) == sorted(b)
    for name in ("blk.0.attn_q.weight", "blk.17.ffn_down.weight"):
        x = gguf.quants.dequantize(a[name].data, a[name].tensor_type)
        y = np.asarray(b[name].data, dtype=np.float32).reshape(x.shape)
        assert b[name].tensor_type == gguf.GGMLQuantizationType.F16
        np.testing.assert_allclose(y, x, rtol=1e-3, atol=1e-6)
