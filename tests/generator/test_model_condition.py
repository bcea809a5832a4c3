"""The model condition: the base model's reading of the prompts (tiny models)."""

from __future__ import annotations

import pytest
import torch

from dnd.fileio import read_json
from dnd.generator import config as C
from dnd.generator.condition import ConditionSettings
from dnd.generator.generate import Generator
from dnd.generator.heads import SharedLoraHead
from dnd.generator.model_condition import ModelReader, aggregate, feature_dim, label_set
from dnd.generator.train import train_generator
from dnd.tasks.items import Item
from dnd.tasks.registry import load_pools

PROMPTS = ["Is the sky blue?", "Is fire cold?", "Do fish swim?", "Can stones talk?"]


@pytest.fixture(scope="module")
def reader(tiny_model):
    from dnd.assets import load_base_model

    model, tok = load_base_model(tiny_model)
    return ModelReader(model, tok, layers=(0, 1), identity="tiny")


def test_rows_and_their_aggregate(reader):
    rows = reader.rows(PROMPTS, ("yes", "no"))
    assert rows.shape == (4, 3, 32)  # k = 2 layers + the lean over the answers, D = 32
    agg = aggregate(rows)
    assert agg.shape == (feature_dim(32, (0, 1)),)
    assert torch.allclose(agg[:64], rows[:, :2].mean(0).flatten())
    assert torch.allclose(agg[-32:], rows[:, 2].mean(0))
    assert reader.rows(PROMPTS, None)[:, 2].abs().max() == 0  # no answer set: no lean
    assert torch.allclose(reader.rows(PROMPTS, None)[:, :2], rows[:, :2], atol=1e-6)


def test_tasks_with_different_biases_give_different_conditions(reader):
    """The same prompts read against answer sets the model leans on differently (a planted
    bias: one choice's output embedding row scaled up) give different leans."""
    emb = reader.model.get_output_embeddings().weight
    yes = reader.tok("yes", add_special_tokens=False)["input_ids"][0]
    saved = emb.data[yes].clone()
    lean_before = aggregate(reader.rows(PROMPTS, ("yes", "no")))[-32:]
    emb.data[yes] *= 25.0  # the model now prefers "yes" strongly
    try:
        lean_after = aggregate(reader.rows(PROMPTS, ("yes", "no")))[-32:]
    finally:
        emb.data[yes] = saved
    assert not torch.allclose(lean_before, lean_after, atol=1e-4)
    a = aggregate(reader.rows(PROMPTS[:2], ("yes", "no")))
    b = aggregate(reader.rows(PROMPTS[2:], ("yes", "no")))
    assert not torch.allclose(a, b)


def test_label_set():
    assert label_set([Item("a", "x", ("x", "y")), Item("b", "y", ("x", "y"))]) == ("x", "y")
    assert label_set([Item("a", "x", ("x", "y")), Item("b", "z", ("z", "w"))]) is None
    assert label_set([Item("a", "x")]) is None


def test_the_condition_path_gets_gradients():
    keys = ("m.layers.0.q.lora_A.weight", "m.layers.0.q.lora_B.weight")
    head = SharedLoraHead((4, 2, 3), keys, ((2, 8), (8, 2)), hidden_channels=(4,), width=8, embed_dim=4,
                          cond_dim=8, model_dim=3 * 16, model_blocks=3, b_scale=1.0)
    out = head(None, model_cond=torch.randn(2, 48))
    loss = sum((v - 1).pow(2).sum() for v in out.values())
    loss.backward()
    assert head.model_proj.weight.grad.abs().sum() > 0
    assert head.missing_prompts.grad is not None  # the MiniLM part stands in as "missing"


def test_train_and_generate_with_both_conditions(tiny_zoo, tmp_path):
    config = C.GeneratorConfig(
        condition=ConditionSettings(n_prompts=4, source="both", model_prompts=2),
        decoder=C.DecoderSettings(hidden_channels=(8,)),
        head=C.HeadSettings(width=8, embed_dim=4, cond_dim=8, description=False, b_scale=1.0),
        train=C.GenTrainSettings(steps=3, batch_size=2, lr=3e-3, warmup_steps=1, max_pool=16, save_every=1000,
                                 objective="functional", items_per_task=2, max_length=48))
    saved = train_generator(tiny_zoo, tmp_path / "gen", config)
    assert saved["model_dim"] == feature_dim(32, (1,)) and saved["model_blocks"] == 3  # 2 layers: middle = last
    assert read_json(tmp_path / "gen" / C.CONFIG)["config"]["condition"]["source"] == "both"
    gen = Generator.from_pretrained(tmp_path / "gen")
    assert gen.reads_model
    prompts = [it.prompt for it in load_pools("sst2")[1][:4]]
    a = gen.generate(prompts, choices=("positive", "negative"))
    b = gen.generate(prompts, choices=None)  # no answer set: no lean; a different adapter
    key = next(k for k in a if "lora_B" in k)
    assert not torch.equal(a[key], b[key])
