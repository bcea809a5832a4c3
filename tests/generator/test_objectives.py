"""The functional objective, the compact residual head and rank concatenation (tiny models)."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_model

from dnd.fileio import read_json
from dnd.generator import config as C
from dnd.generator.condition import ConditionSettings
from dnd.generator.generate import Generator
from dnd.generator.heads import SharedLoraHead
from dnd.generator.objectives.functional import FunctionalLoss
from dnd.generator.tokenizer import LoraLayout
from dnd.generator.train import train_generator
from dnd.lora.attach import attach_lora, lora_state_dict
from dnd.lora.combine import combined_settings, concat_ranks
from dnd.lora.settings import LoraSettings
from dnd.tasks.registry import load_pools

LORA = LoraSettings(r=4, lora_alpha=8)
HEAD = C.HeadSettings(width=16, embed_dim=8, cond_dim=16, b_scale=1.0)  # a tiny model needs a large lora_B


@pytest.fixture(scope="module")
def sharp_model(tmp_path_factory):
    """A tiny model whose (tied) embeddings are large enough for a LoRA to move its logits
    far (the default init's logits span ~0.1, so no adapter can lower the loss much)."""
    from transformers import AutoModelForCausalLM

    path = make_tiny_model(tmp_path_factory.mktemp("sharp"))
    model = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(15)
    model.save_pretrained(path)
    return str(path)


def test_functional_objective_lowers_the_task_loss_without_a_zoo(sharp_model, tmp_path):
    config = C.GeneratorConfig(
        condition=ConditionSettings(n_prompts=8), decoder=C.DecoderSettings(hidden_channels=(16,)), head=HEAD,
        train=C.GenTrainSettings(steps=16, batch_size=2, lr=3e-3, warmup_steps=2, max_pool=64,
                                 objective="functional", items_per_task=4, max_length=64))
    saved = train_generator(None, tmp_path / "gen", config, tasks=("sst2",), base_model=sharp_model, lora=LORA)
    assert saved["objective"] == "functional" and saved["zoo"] is None and saved["head"] == "shared"
    losses = read_json(tmp_path / "gen" / C.LOSSES)
    first, last = sum(losses[:2]) / 2, sum(losses[-4:]) / 4
    assert last < first - 1.0, (first, last)

    # the generated adapter itself lowers the loss of unseen eval-pool items
    from transformers import AutoModelForCausalLM

    from dnd.assets import load_tokenizer

    gen = Generator.from_pretrained(tmp_path / "gen")
    state = gen.generate([it.prompt for it in load_pools("sst2")[0][:8]])
    loss = FunctionalLoss(AutoModelForCausalLM.from_pretrained(sharp_model), load_tokenizer(sharp_model), LORA,
                          max_length=64)
    examples = loss.encode(load_pools("sst2")[1][:8])
    with torch.no_grad():
        base = loss({k: torch.zeros_like(v) if "lora_B" in k else v for k, v in state.items()}, examples)
        tuned = loss(state, examples)
    assert tuned < base - 1.0, (float(base), float(tuned))


def test_every_head_parameter_gets_a_gradient(tiny_model):
    """Gradients flow from the task loss through the generated weights into the whole head
    (after the first step: lora_B starts at zero, so at step 0 only its output map moves)."""
    from transformers import AutoModelForCausalLM

    from dnd.assets import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    layout = LoraLayout.from_base_model(model, LORA)
    loss = FunctionalLoss(model, load_tokenizer(tiny_model), LORA, max_length=64)
    torch.manual_seed(0)
    head = SharedLoraHead((8, 4, 6), layout.keys, layout.shapes, (6,), width=8, embed_dim=4, cond_dim=8, desc_dim=12)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    examples = loss.encode(load_pools("sst2")[0][:2])
    cond, desc = torch.randn(2, 8, 4, 6), torch.randn(2, 12)
    flags = dict(has_prompts=torch.tensor([1.0, 0.0]), has_desc=torch.tensor([0.0, 1.0]))  # each input missing once
    for step in range(2):
        opt.zero_grad()
        state = head(cond, desc, **flags)
        total = sum(loss({k: v[b] for k, v in state.items()}, examples) for b in range(2))
        total.backward()
        if step == 0:
            assert all(torch.equal(v, torch.zeros_like(v)) for k, v in state.items() if "lora_B" in k)
            opt.step()
    no_grad = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, no_grad


def _random_adapter(model, lora: LoraSettings, seed: int) -> dict[str, torch.Tensor]:
    import copy

    torch.manual_seed(seed)
    state = lora_state_dict(attach_lora(copy.deepcopy(model), lora))
    return {k: torch.randn_like(v) * 0.3 for k, v in state.items()}


def _save(state, lora: LoraSettings, base: str, out):
    from dnd.fileio import save_safetensors

    cfg = lora.to_peft()
    cfg.base_model_name_or_path = base
    cfg.save_pretrained(out)
    save_safetensors(out / "adapter_model.safetensors", state, metadata={"format": "pt"})
    return out


def _logits(model, tok):
    with torch.no_grad():
        return model(**tok(["Is the sky blue? Answer yes or no."], return_tensors="pt")).logits


def test_concatenated_ranks_equal_the_summed_deltas(tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    one, two = LoraSettings(r=4, lora_alpha=8), LoraSettings(r=2, lora_alpha=6)  # scales 2 and 3
    s1, s2 = _random_adapter(model, one, 1), _random_adapter(model, two, 2)
    both = concat_ranks(s1, one, s2, two)
    lora = combined_settings(one, two)
    assert lora.r == 6 and lora.lora_alpha == 18
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model),
                                       _save(both, lora, tiny_model, tmp_path / "both")).eval()

    # the expected model: W + s1 B1 A1 + s2 B2 A2 written into the base weights
    expected = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    weights = dict(expected.named_parameters())
    with torch.no_grad():
        for key in s1:
            if ".lora_A." in key:
                kb = key.replace(".lora_A.", ".lora_B.")
                delta = 2 * s1[kb] @ s1[key] + 3 * s2[kb] @ s2[key]
                weights[key.replace("base_model.model.", "").replace(".lora_A", "")] += delta
    got, want = _logits(loaded, tok), _logits(expected, tok)
    assert not torch.allclose(want, _logits(AutoModelForCausalLM.from_pretrained(tiny_model), tok), atol=1e-3)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_untrained_residual_generator_writes_the_reference(tiny_zoo, tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dnd.lora.combine import average_states
    from dnd.lora.io import read_adapter
    from dnd.zoo import manifest as zm

    config = C.GeneratorConfig(
        condition=ConditionSettings(n_prompts=8), decoder=C.DecoderSettings(hidden_channels=(16,)), head=HEAD,
        reference="zoo-mean", train=C.GenTrainSettings(steps=0, max_pool=16))
    saved = train_generator(tiny_zoo, tmp_path / "gen", config)
    assert saved["adapter_lora"]["r"] == 8 and saved["adapter_lora"]["lora_alpha"] == 16  # 4 + 4 ranks, scale 2
    gen = Generator.from_pretrained(tmp_path / "gen")
    state = gen.generate(["Review: fine. Positive or negative?"] * 8, description="Classify sentiment.")
    manifest = zm.load_manifest(tiny_zoo)
    ref = average_states([read_adapter(tiny_zoo / manifest["tasks"][t]["full_shot"]["path"]) for t in saved["tasks"]])
    for key, value in ref.items():
        if ".lora_A." in key:
            assert torch.equal(state[key][:4], value)
        else:
            assert torch.equal(state[key][:, :4], value) and not state[key][:, 4:].any()  # delta's lora_B: zero
    out = gen.save_adapter(state, tmp_path / "adapter")
    tok = AutoTokenizer.from_pretrained(tiny_model)
    written = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out).eval()
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model),
                                          _save(ref, LORA, tiny_model, tmp_path / "ref")).eval()
    # the weights above are bit-equal; the logits agree to float rounding (a rank-8 matmul with
    # zero columns is summed in another order than a rank-4 one, and that order depends on the
    # thread count)
    assert torch.allclose(_logits(written, tok), _logits(reference, tok), rtol=0, atol=1e-6)


def test_old_configs_serialize_as_before_and_new_ones_round_trip():
    legacy = C.GeneratorConfig().to_json()
    assert not {"head", "reference"} & set(legacy) and "objective" not in legacy["train"]
    assert C.GeneratorConfig.from_json(legacy) == C.GeneratorConfig()
    new = C.GeneratorConfig(head=HEAD, reference="zoo-mean",
                            train=C.GenTrainSettings(objective="hybrid", hybrid_weight=0.5))
    assert C.GeneratorConfig.from_json(new.to_json()) == new and new.head_kind == "shared"


def test_training_refuses_eval_only_tasks_and_a_missing_zoo(tmp_path):
    import subprocess
    import sys

    from dnd.tasks.registry import TASKS

    eval_only = next(n for n, s in TASKS.items() if s.eval_only)
    for flags, message in ((["--objective", "functional", "--tasks", f"sst2,{eval_only}"], "evaluation-only"),
                           (["--tasks", "sst2"], "needs --zoo")):
        r = subprocess.run([sys.executable, "-m", "dnd.cli", "train", "--out", str(tmp_path / "g"), *flags],
                           capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "g").exists()


def test_a_resumed_run_equals_an_uninterrupted_one(tiny_zoo, tmp_path, monkeypatch, capsys):
    """Kill after the first saved state (hybrid objective, shared head, residual): the rerun
    resumes from it and ends with exactly the weights of a run never interrupted."""
    from safetensors.torch import load_file

    from dnd.generator import loop as T

    config = C.GeneratorConfig(
        condition=ConditionSettings(n_prompts=8), decoder=C.DecoderSettings(hidden_channels=(8,)),
        head=C.HeadSettings(width=8, embed_dim=4, cond_dim=8), reference="zoo-mean",
        train=C.GenTrainSettings(steps=4, batch_size=2, lr=1e-3, warmup_steps=1, max_pool=16, save_every=2,
                                 objective="hybrid", items_per_task=2, max_length=64))
    train_generator(tiny_zoo, tmp_path / "straight", config)
    save = T.save_train_state

    def save_then_die(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "save_train_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_generator(tiny_zoo, tmp_path / "killed", config)
    monkeypatch.setattr(T, "save_train_state", save)
    assert read_json(tmp_path / "killed" / C.STATE_INFO)["step"] == 2
    capsys.readouterr()
    train_generator(tiny_zoo, tmp_path / "killed", config)
    assert f"resuming {tmp_path / 'killed'} at step 2" in capsys.readouterr().out
    a, b = load_file(tmp_path / "straight" / C.WEIGHTS), load_file(tmp_path / "killed" / C.WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert read_json(tmp_path / "straight" / C.LOSSES) == read_json(tmp_path / "killed" / C.LOSSES)
    assert not (tmp_path / "killed" / C.STATE).exists()
