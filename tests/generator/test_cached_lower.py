"""The cached-lower-layers functional loss (objectives/cached_lower.py) and the head's
top-layers delta, on a tiny 4-layer model."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_model

from dnd.assets import load_tokenizer
from dnd.generator import config as C
from dnd.generator.condition import ConditionSettings
from dnd.generator.generate import Generator
from dnd.generator.heads import SharedLoraHead
from dnd.generator.objectives.cached_lower import CachedLowerLoss
from dnd.lora.attach import layer_of
from dnd.generator.objectives.functional import FunctionalLoss
from dnd.generator.tokenizer import LoraLayout
from dnd.generator.train import train_generator
from dnd.lora.settings import LoraSettings
from dnd.tasks.registry import load_pools

LORA = LoraSettings(r=4, lora_alpha=8)


@pytest.fixture(scope="module")
def deep_model(tmp_path_factory) -> str:
    return str(make_tiny_model(tmp_path_factory.mktemp("deep"), layers=4))


def _model(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


def _random_state(layout, seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) * 0.3 for k, shape in zip(layout.keys, layout.shapes)}


def test_cached_path_equals_the_full_forward(deep_model, monkeypatch, tmp_path):
    monkeypatch.setenv("DND_CACHE", str(tmp_path / "cache"))
    tok = load_tokenizer(deep_model)
    full_model = _model(deep_model)
    layout = LoraLayout.from_base_model(full_model, LORA)
    state = _random_state(layout)
    full = FunctionalLoss(full_model, tok, LORA, max_length=64)
    cached = CachedLowerLoss(_model(deep_model), tok, LORA, top_layers=2, lower_state=state, max_length=64,
                             precision="fp32")
    items = load_pools("sst2")[0][:6]
    examples = cached.encode(items)
    assert cached.checked and all(h.shape[0] == len(ids) for ids, _, h in examples)
    top = {k: v for k, v in state.items() if layer_of(k) >= 2}
    with torch.no_grad():
        want = float(full(state, full.encode(items)))
        got = float(cached(top, examples))
    assert got == pytest.approx(want, rel=1e-4)
    # a second encode of the same items reads the disk cache: the same inputs
    again = cached.encode(items)
    assert all(torch.equal(a[2], b[2]) for a, b in zip(examples, again))
    # gradients reach the top layers' weights only (the lower ones are not even read)
    leaves = {k: v.clone().requires_grad_() for k, v in top.items()}
    cached(leaves, examples[:2]).backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for k, v in leaves.items() if "lora_B" in k)
    with pytest.raises(ValueError, match="lacks"):
        cached({}, examples[:1])


def test_top_layers_out_of_range_is_refused(deep_model):
    from dnd.errors import DndError

    model = _model(deep_model)
    layout = LoraLayout.from_base_model(model, LORA)
    with pytest.raises(DndError, match="--top-layers 4: the base model has 4 layers"):
        CachedLowerLoss(model, load_tokenizer(deep_model), LORA, 4, _random_state(layout))


def test_head_writes_zeros_below_its_top_layers(deep_model):
    layout = LoraLayout.from_base_model(_model(deep_model), LORA)
    torch.manual_seed(0)
    head = SharedLoraHead((8, 4, 6), layout.keys, layout.shapes, (6,), width=8, embed_dim=4, cond_dim=8,
                          b_scale=1.0, top_layers=1)
    with torch.no_grad():
        for p in head.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # lora_B's map starts at zero: move it
    out = head(torch.randn(2, 8, 4, 6))
    assert set(out) == set(layout.keys)
    for key, value in out.items():
        assert value.shape[1:] == dict(zip(layout.keys, layout.shapes))[key]
        assert (value.abs().sum() == 0) == (layer_of(key) < 3), key


@pytest.mark.parametrize("one_pass", [False, True])
def test_train_and_generate_with_top_layers(deep_model, tmp_path, monkeypatch, one_pass):
    """A residual generator with a top-layers delta trains through the cached loss (one call
    per condition, or all in one pass), and its written adapter is exactly the reference
    below the top layers."""
    monkeypatch.setenv("DND_CACHE", str(tmp_path / "cache"))
    from dnd.artifacts import ADAPTER_WEIGHTS
    from dnd.fileio import save_safetensors
    from dnd.lora.attach import attach_lora, lora_state_dict
    from dnd.lora.io import write_adapter_config

    ref_dir = tmp_path / "ref"
    torch.manual_seed(1)
    peft_model = attach_lora(_model(deep_model), LORA)
    ref = {k: torch.randn_like(v) * 0.05 for k, v in lora_state_dict(peft_model).items()}
    write_adapter_config(LORA, deep_model, ref_dir)
    save_safetensors(ref_dir / ADAPTER_WEIGHTS, ref)
    config = C.GeneratorConfig(
        condition=ConditionSettings(n_prompts=4), decoder=C.DecoderSettings(hidden_channels=(8,)),
        head=C.HeadSettings(width=8, embed_dim=4, cond_dim=8, description=False, b_scale=1.0, top_layers=2),
        reference=str(ref_dir),
        train=C.GenTrainSettings(steps=4, batch_size=2, lr=3e-3, warmup_steps=1, max_pool=16, save_every=1000,
                                 objective="functional", items_per_task=2, max_length=48, precision="bf16",
                                 one_pass=one_pass))
    saved = train_generator(None, tmp_path / "gen", config, tasks=("sst2", "boolq"), base_model=deep_model, lora=LORA)
    assert saved["config"]["head"]["top_layers"] == 2
    assert saved["config"]["train"].get("one_pass", False) == one_pass
    state = Generator.from_pretrained(tmp_path / "gen").generate([it.prompt for it in load_pools("sst2")[1][:4]])
    for key, value in state.items():
        r = ref[key].shape[0] if ".lora_A." in key else ref[key].shape[1]
        delta = value[r:] if ".lora_A." in key else value[:, r:]
        assert (delta.abs().sum() == 0) == (layer_of(key) < 2), key


class _PerCall:
    """The loss without `one_pass`: the objectives fall back to one call per condition."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, state, examples):
        return self.fn(state, examples)


@pytest.fixture(scope="module")
def grouped_parts(deep_model, tmp_path_factory):
    """(CachedLowerLoss over the top 2 of 4 layers in fp32, its layout, {task: examples})."""
    import os

    os.environ["DND_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    tok = load_tokenizer(deep_model)
    model = _model(deep_model)
    layout = LoraLayout.from_base_model(model, LORA)
    cached = CachedLowerLoss(model, tok, LORA, top_layers=2, lower_state=_random_state(layout), max_length=64,
                             precision="fp32")
    items = {t: cached.encode(load_pools(t)[0][:3]) for t in ("sst2", "boolq", "rte")}
    cached.one_pass = True  # the objectives take its grouped path (_PerCall hides it)
    return cached, layout, items


def _batched_state(layout, n: int, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.randn(n, *shape, generator=g) * 0.3).requires_grad_()
            for k, shape in zip(layout.keys, layout.shapes) if layer_of(k) >= 2}


def test_grouped_equals_one_call_per_group(grouped_parts):
    """Every row through its own condition's adapter in one forward (row_lora.py): the same
    losses and gradients as one call per group, also with a condition used twice."""
    cached, layout, items = grouped_parts
    groups = [(0, items["sst2"]), (1, items["boolq"]), (0, items["rte"][:1]), (2, items["rte"])]
    state = _batched_state(layout, 3)
    got = cached.grouped(state, groups)
    (got * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    got_grads = {k: v.grad.clone() for k, v in state.items()}
    for v in state.values():
        v.grad = None
    want = torch.stack([cached({k: v[c] for k, v in state.items()}, exs) for c, exs in groups])
    (want * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert got.shape == (4,) and torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    assert len(set(got.tolist())) == 4  # the groups differ: a wrong row -> condition map would show
    for k, v in state.items():
        assert torch.allclose(got_grads[k], v.grad, rtol=1e-4, atol=1e-6), k
    # the rows of condition 1 only see condition 1's weights: its gradient comes from group 1 alone
    key = next(k for k in state if "lora_B" in k)
    assert got_grads[key][1].abs().sum() > 0


@pytest.mark.parametrize("detach,capped", [(False, False), (True, False), (False, True)])
def test_grouped_objectives_equal_the_per_condition_path(grouped_parts, detach, capped):
    from dnd.generator.head_api import HeadOutput
    from dnd.generator.objectives.contrastive import Contrastive
    from dnd.generator.objectives.functional import Functional
    from dnd.generator.sampler import Batch

    cached, layout, items = grouped_parts
    tasks = ["sst2", "boolq", "sst2", "rte"]
    batch = Batch(tasks=tasks, cond=torch.zeros(4, 1), examples=[items[t][:2] for t in tasks])
    cap = {k: v[0].detach() for k, v in _batched_state(layout, 1, seed=7).items()} if capped else None
    for make in (lambda fn: Functional(fn, 0.7), lambda fn: Contrastive(fn, 0.7, 0.5, 100.0, detach=detach, cap=cap)):
        results = []
        for fn in (cached, _PerCall(cached)):
            state = _batched_state(layout, 4)
            term = make(fn).loss(HeadOutput(_state=state), batch)
            term.backward(False)
            results.append((float(term.value), {k: v.grad for k, v in state.items()}))
        (got, got_grads), (want, want_grads) = results
        assert got == pytest.approx(want, rel=1e-5)
        for k in want_grads:
            assert torch.allclose(got_grads[k], want_grads[k], rtol=1e-4, atol=1e-6), k
