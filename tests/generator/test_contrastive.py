"""The contrastive objective (objectives/contrastive.py) on tiny models: the formula, its
gradients, its reduction to the functional objective, and `dnd train --objective contrastive`."""

from __future__ import annotations

import pytest
import torch

from dnd.fileio import read_json
from dnd.generator import config as C
from dnd.generator.head_api import HeadOutput
from dnd.generator.heads import SharedLoraHead
from dnd.generator.objectives.contrastive import Contrastive, contrast_of
from dnd.generator.objectives.functional import Functional, FunctionalLoss
from dnd.generator.sampler import Batch
from dnd.generator.tokenizer import LoraLayout
from dnd.lora.settings import LoraSettings
from dnd.tasks.registry import load_pools

LORA = LoraSettings(r=4, lora_alpha=8)
COND = (8, 4, 6)  # (N, H, W) of the random conditions


@pytest.fixture(scope="module")
def parts(tiny_model):
    """(FunctionalLoss, layout, {task: encoded items}) on the tiny model."""
    from transformers import AutoModelForCausalLM

    from dnd.assets import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    layout = LoraLayout.from_base_model(model, LORA)
    fn = FunctionalLoss(model, load_tokenizer(tiny_model), LORA, max_length=48)
    items = {t: fn.encode(load_pools(t)[0][:2]) for t in ("sst2", "boolq")}
    return fn, layout, items


def _batch(tasks, items) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(tasks=list(tasks), cond=torch.randn(len(tasks), *COND, generator=g),
                 examples=[items[t] for t in tasks])


def _random_state(layout, n: int) -> dict[str, torch.Tensor]:
    """{key: (n, *shape)} leaf tensors, lora_B non-zero (adapters that differ)."""
    g = torch.Generator().manual_seed(0)
    return {k: (torch.randn(n, *shape, generator=g) * 0.3).requires_grad_() for k, shape in
            zip(layout.keys, layout.shapes)}


def _head(layout) -> SharedLoraHead:
    torch.manual_seed(0)
    head = SharedLoraHead(COND, layout.keys, layout.shapes, (6,), width=8, embed_dim=4, cond_dim=8, b_scale=1.0)
    with torch.no_grad():  # lora_B's output map starts at zero: move it, so the conditions' adapters differ
        for p in head.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return head


def _through_head(objective, head, batch):
    """-> (value, {parameter: gradient}) of one term backpropagated through the head."""
    head.zero_grad(set_to_none=True)
    term = objective.loss(HeadOutput(_state=head(batch.cond)), batch)
    term.backward(False)
    return term.value, {n: p.grad.clone() for n, p in head.named_parameters() if p.grad is not None}


def _on_state(objective, layout, batch):
    """-> (value, {key: gradient (B, *shape)}) of one term on fixed generated weights."""
    state = _random_state(layout, len(batch.tasks))
    term = objective.loss(HeadOutput(_state=state), batch)
    term.backward(False)
    return term.value, {k: v.grad.clone() for k, v in state.items()}


def test_contrast_partner_is_the_next_condition_of_another_task():
    assert [contrast_of(["a", "a", "b"], b) for b in range(3)] == [2, 2, 0]
    assert [contrast_of(["a", "b", "c"], b) for b in range(3)] == [1, 2, 0]
    assert [contrast_of(["a", "a"], b) for b in range(2)] == [None, None]


def test_without_contrast_weight_it_is_the_functional_objective(parts):
    fn, layout, items = parts
    head, batch = _head(layout), _batch(("sst2", "boolq"), items)
    want, want_grads = _through_head(Functional(fn, 0.7), head, batch)
    got, got_grads = _through_head(Contrastive(fn, 0.7, contrast_weight=0.0, margin=0.5), head, batch)
    assert float(got) == pytest.approx(float(want), rel=1e-6, abs=1e-6)
    assert set(got_grads) == set(want_grads) and len(want_grads) > 5
    assert any(g.abs().sum() > 0 for g in want_grads.values())
    for name, g in want_grads.items():
        assert torch.allclose(got_grads[name], g, rtol=1e-6, atol=1e-6), name


@pytest.mark.parametrize("tasks", [("sst2", "boolq"), ("sst2", "sst2", "boolq")])
def test_value_and_gradients_follow_the_formula(parts, tasks):
    """Large margin (the hinge is active everywhere): value and the gradients into the
    generated weights equal the formula written out with loss_fn in one graph."""
    fn, layout, items = parts
    cw, margin, weight = 0.5, 100.0, 2.0
    batch = _batch(tasks, items)
    got, got_grads = _on_state(Contrastive(fn, weight, cw, margin), layout, batch)

    state = _random_state(layout, len(tasks))
    partner = {2: [1, 0], 3: [2, 2, 0]}[len(tasks)]  # the next condition of another task, cyclically
    per_condition = []
    for b, o in enumerate(partner):
        own = fn({k: v[b] for k, v in state.items()}, items[tasks[b]])
        other = fn({k: v[o] for k, v in state.items()}, items[tasks[b]])
        assert margin + own - other > 0  # the hinge is active
        per_condition.append(own + cw * torch.relu(margin + own - other))
    want = weight * torch.stack(per_condition).mean()
    want.backward()
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    for k, v in state.items():
        assert torch.allclose(got_grads[k], v.grad, rtol=1e-5, atol=1e-7), k

    # the hinge sends gradient into the partner's weights: without it (contrast_weight 0) the
    # partner's adapter gets only its own items' gradient, which the hinge scales by 1 + cw
    _, plain = _on_state(Contrastive(fn, weight, 0.0, margin), layout, batch)
    key, o = next(k for k in layout.keys if "lora_B" in k), partner[0]
    assert not torch.allclose(got_grads[key][o], (1 + cw) * plain[key][o], rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("tasks", [("sst2", "boolq"), ("sst2", "sst2", "boolq")])
def test_detached_hinge_moves_only_the_own_adapter(parts, tasks):
    """--contrast-detach: the same value, but the partner's adapter gets no gradient through
    the hinge. With every hinge active, each condition's gradient is then exactly (1 + cw) x
    its functional gradient (its own loss counted once more), which the undetached hinge breaks."""
    fn, layout, items = parts
    cw, margin = 0.5, 100.0
    batch = _batch(tasks, items)
    full, _ = _on_state(Contrastive(fn, 1.0, cw, margin), layout, batch)
    got, got_grads = _on_state(Contrastive(fn, 1.0, cw, margin, detach=True), layout, batch)
    _, plain = _on_state(Functional(fn), layout, batch)
    assert float(got) == pytest.approx(float(full), rel=1e-6)
    assert any(g.abs().sum() > 0 for g in plain.values())
    for k, g in plain.items():
        assert torch.allclose(got_grads[k], (1 + cw) * g, rtol=1e-4, atol=1e-7), k


def _zeros(layout) -> dict[str, torch.Tensor]:
    """The zero-delta adapter without a reference: the base model."""
    return {k: torch.zeros(shape) for k, shape in zip(layout.keys, layout.shapes)}


@pytest.mark.parametrize("tasks", [("sst2", "boolq"), ("sst2", "sst2", "boolq")])
def test_capped_hinge_follows_the_formula(parts, tasks):
    """--contrast-cap: L_other counts at most the zero-delta adapter's loss (no gradient):
    value and gradients equal relu(margin + own - min(other, ref)) written out by hand."""
    fn, layout, items = parts
    cw, margin = 0.5, 100.0
    batch = _batch(tasks, items)
    cap = {k: v + 0.2 for k, v in _zeros(layout).items()}  # a reference that is not the base model
    got, got_grads = _on_state(Contrastive(fn, 1.0, cw, margin, cap=cap), layout, batch)

    state = _random_state(layout, len(tasks))
    partner = {2: [1, 0], 3: [2, 2, 0]}[len(tasks)]
    per_condition, binds = [], []
    for b, o in enumerate(partner):
        own = fn({k: v[b] for k, v in state.items()}, items[tasks[b]])
        other = fn({k: v[o] for k, v in state.items()}, items[tasks[b]])
        with torch.no_grad():
            ref = fn(cap, items[tasks[b]])
        binds.append(bool(ref < other))
        per_condition.append(own + cw * torch.relu(margin + own - torch.minimum(other, ref)))
    want = torch.stack(per_condition).mean()
    want.backward()
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    for k, v in state.items():
        assert torch.allclose(got_grads[k], v.grad, rtol=1e-5, atol=1e-7), k
    assert any(binds)  # the cap decides the hinge of some condition here


def test_a_partner_worse_than_the_reference_gets_no_push(parts):
    """With every partner worse than the reference on the condition's items, the capped hinge
    moves only the condition's own adapter: each gradient is (1 + cw) x its functional one,
    as with --contrast-detach, and the value is own + cw (margin + own - ref)."""
    fn, layout, items = parts
    cw, margin, tasks = 0.5, 100.0, ("sst2", "boolq")
    batch = _batch(tasks, items)
    state = _random_state(layout, 2)
    for b in range(2):  # the precondition: the random adapters are worse than the base model
        with torch.no_grad():
            assert fn({k: v[1 - b] for k, v in state.items()}, items[tasks[b]]) > fn(_zeros(layout), items[tasks[b]])
    got, got_grads = _on_state(Contrastive(fn, 1.0, cw, margin, cap=_zeros(layout)), layout, batch)
    _, plain = _on_state(Functional(fn), layout, batch)
    assert any(g.abs().sum() > 0 for g in plain.values())
    for k, g in plain.items():
        assert torch.allclose(got_grads[k], (1 + cw) * g, rtol=1e-4, atol=1e-7), k


def test_one_task_batch_has_no_contrast_term(parts):
    fn, layout, items = parts
    batch = _batch(("boolq", "boolq"), items)
    want, want_grads = _on_state(Functional(fn), layout, batch)
    got, got_grads = _on_state(Contrastive(fn, 1.0, contrast_weight=1.0, margin=5.0), layout, batch)
    assert float(got) == pytest.approx(float(want), rel=1e-6)  # a hinge would add >= 5 here
    assert all(torch.allclose(got_grads[k], want_grads[k], rtol=1e-6, atol=1e-7) for k in want_grads)


def test_dnd_train_contrastive_end_to_end(tiny_model, tmp_path):
    """2 steps without a zoo; the config records the objective and its settings; the
    generator loads and writes adapters. At step 0 the delta is zero (lora_B starts at 0),
    so every adapter is the base model, L_own = L_other (= L_ref, the cap), and each condition
    with a partner pays exactly weight x margin over the functional loss of the same batch."""
    from dnd.cli.main import build_parser
    from dnd.cli.main import main as dnd_main
    from dnd.cli.train_cmd import config_from_args
    from dnd.generator.generate import Generator
    from dnd.generator.train import train_generator

    argv = ["train", "--objective", "contrastive", "--tasks", "sst2,boolq", "--head", "shared",
            "--base-model", tiny_model, "--rank", "4", "--alpha", "8", "--n-prompts", "8",
            "--hidden-channels", "8", "--head-width", "8", "--steps", "2", "--batch-size", "4",
            "--max-pool", "16", "--items-per-task", "2", "--max-length", "48",
            "--contrast-weight", "0.5", "--contrast-margin", "0.2", "--contrast-detach", "--contrast-cap"]
    out = tmp_path / "gen"
    assert dnd_main([*argv, "--out", str(out)]) == 0
    saved = read_json(out / C.CONFIG)
    assert saved["objective"] == "contrastive" and saved["zoo"] is None
    assert saved["config"]["train"]["contrast_weight"] == 0.5 and saved["config"]["train"]["contrast_margin"] == 0.2
    assert saved["config"]["train"]["contrast_detach"] is True and saved["config"]["train"]["contrast_cap"] is True
    gen = Generator.from_pretrained(out)
    assert gen.config.train.objective == "contrastive" and gen.config.train.contrast_margin == 0.2
    state = gen.generate([it.prompt for it in load_pools("sst2")[1][:8]])
    assert state and all(torch.isfinite(v).all() for v in state.values())

    # at step 0 detaching changes no value: the first loss is the undetached one's
    config = config_from_args(build_parser().parse_args([*argv, "--out", "x", "--objective", "functional"]))
    train_generator(None, tmp_path / "func", config, tasks=("sst2", "boolq"), base_model=tiny_model, lora=LORA)
    extra = read_json(out / C.LOSSES)[0] - read_json(tmp_path / "func" / C.LOSSES)[0]
    assert any(abs(extra - 0.5 * 0.2 * k / 4) < 1e-5 for k in range(1, 5)), extra  # k of 4 conditions paired
