"""LoRA tokenizer: layout inference and an exact round trip."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.generator.tokenizer import LoraLayout, auto_chunk
from dnd.zoo import manifest as mf


def random_lora(shapes: dict[str, tuple[int, int]], r: int, layers: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for layer in range(layers):
        for name, (n_in, n_out) in shapes.items():
            prefix = f"base_model.model.model.layers.{layer}.{name}"
            sd[f"{prefix}.lora_A.weight"] = torch.randn(r, n_in, generator=g) * 0.05
            sd[f"{prefix}.lora_B.weight"] = torch.randn(n_out, r, generator=g) * 1e-3
    return sd


@pytest.mark.parametrize("shapes,r", [
    ({"self_attn.q_proj": (576, 576), "self_attn.k_proj": (576, 192), "mlp.down_proj": (1536, 576)}, 8),
    ({"attn.c_attn": (64, 192), "mlp.c_fc": (64, 256)}, 4),
    ({"q": (100, 70), "v": (100, 30)}, 16),  # no common divisor >= 32: padded chunks
    ({"q": (33, 33)}, 1),
])
def test_round_trip_random(shapes, r):
    sd = random_lora(shapes, r)
    layout = LoraLayout.from_state_dict(sd)
    tokens = layout.tokenize(sd)
    assert tokens.shape == (layout.n_tokens, *layout.token_shape)
    back = layout.detokenize(tokens)
    assert back.keys() == sd.keys()
    for k in sd:
        assert back[k].shape == sd[k].shape
        assert torch.allclose(back[k], sd[k], atol=1e-6, rtol=1e-5), k
    # padding cells are zero and excluded by the mask
    assert tokens[~layout.value_mask].abs().max() == 0 if (~layout.value_mask).any() else True


def test_layout_geometry_and_order():
    sd = random_lora({"mlp.up_proj": (64, 128), "self_attn.q_proj": (64, 64)}, r=4, layers=11)
    layout = LoraLayout.from_state_dict(sd)
    assert layout.chunk == 64
    layers = [int(k.split(".layers.")[1].split(".")[0]) for k in layout.keys]
    assert layers == sorted(layers)  # layer 10 after layer 9, not after layer 1
    a_b = [k.split(".lora_")[1][0] for k in layout.keys[:4]]
    assert a_b == ["A", "B", "A", "B"]
    # A (4, 64) -> 1 token, B^T (4, 128) -> 2 tokens; 64 -> 1, 64 -> 1; per layer 5
    assert layout.n_tokens == 11 * 5
    assert LoraLayout.from_json(layout.to_json()) == layout


def test_auto_chunk_for_smollm2_shapes():
    keys = ["x.lora_A.weight", "y.lora_B.weight", "z.lora_B.weight"]
    assert auto_chunk(keys, [(8, 576), (192, 8), (1536, 8)]) == 192


def test_wrong_shapes_are_rejected():
    sd = random_lora({"q": (64, 64)}, r=4)
    layout = LoraLayout.from_state_dict(sd)
    with pytest.raises(ValueError):
        layout.detokenize(torch.zeros(layout.n_tokens + 1, *layout.token_shape))
    with pytest.raises(ValueError):
        layout.tokenize({k: v for k, v in list(sd.items())[1:]})


def test_round_trip_real_zoo_checkpoint(tiny_zoo):
    m = mf.load_manifest(tiny_zoo)
    path = mf.checkpoint_paths(tiny_zoo, m, "sst2")[-1] / ADAPTER_WEIGHTS
    sd = load_file(path)
    layout = LoraLayout.from_state_dict(sd)
    back = layout.detokenize(layout.tokenize(sd))
    for k in sd:
        assert (back[k] - sd[k]).abs().max() <= 1e-6 * max(1.0, sd[k].abs().max().item())


def test_layout_from_real_default_model():
    """The layout is inferred from the base model and the LoRA settings, not hard-coded."""
    from dnd.assets import load_base_model
    from dnd.lora.settings import LoraSettings

    model, _ = load_base_model()
    layout = LoraLayout.from_base_model(model, LoraSettings(r=8))
    assert layout.chunk == 192 and layout.token_shape == (8, 194)
    assert layout.n_tokens == 30 * 53  # 30 layers; 18 + 8 A-chunks, 27 B-chunks per layer
    assert "lora_" not in " ".join(n for n, _ in model.named_parameters())  # model untouched
