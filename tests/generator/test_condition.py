"""The condition encoder on the real default encoder (MiniLM): shapes, truncation, caching."""

import torch

from dnd.generator.condition import ConditionEncoder, ConditionSettings, fold
from dnd.generator.config import GeneratorConfig

LONG = "Read the passage and answer. " + "The river rose slowly through the night while the town slept. " * 12
SHORT = "Is it raining?"


def test_fold_is_as_square_as_possible():
    assert fold(384) == (16, 24) and fold(768) == (24, 32)


def test_pooled_features_are_unit_embeddings():
    enc = ConditionEncoder(ConditionSettings())
    feats = enc.features([SHORT, LONG])
    assert feats.shape == (2, 16, 24)
    assert torch.allclose(feats.flatten(1).norm(dim=1), torch.ones(2), atol=1e-5)


def test_encoder_max_tokens_truncates_and_leaves_the_shared_encoder_alone():
    full = ConditionEncoder(ConditionSettings())
    cut = ConditionEncoder(ConditionSettings(encoder_max_tokens=16))
    before = full.model.max_seq_length
    a, b = full.features([SHORT, LONG]), cut.features([SHORT, LONG])
    assert torch.allclose(a[0], b[0], atol=1e-5)  # a short prompt fits either way
    assert not torch.allclose(a[1], b[1], atol=1e-3)  # a long one is read only in part
    assert cut.model is full.model and full.model.max_seq_length == before


def test_settings_json_and_cache_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("DND_CACHE", str(tmp_path))
    assert "encoder_max_tokens" not in ConditionSettings().to_json()  # older configs compare equal
    assert "encoder_max_tokens" not in GeneratorConfig().to_json()["condition"]
    assert GeneratorConfig.from_json(GeneratorConfig().to_json()) == GeneratorConfig()
    assert ConditionSettings(encoder_max_tokens=64).to_json()["encoder_max_tokens"] == 64
    ConditionEncoder(ConditionSettings()).cached_features([LONG])
    ConditionEncoder(ConditionSettings(encoder_max_tokens=16)).cached_features([LONG])
    assert len(list((tmp_path / "features").glob("*.safetensors"))) == 2  # no pickles
    assert not list((tmp_path / "features").glob("*.pt"))
    for cached in (tmp_path / "features").glob("*.safetensors"):
        cached.write_bytes(cached.read_bytes()[:40])  # a damaged cache file is recomputed, not an error
    again = ConditionEncoder(ConditionSettings(encoder_max_tokens=16)).cached_features([LONG])
    assert again.shape == (1, 16, 24)


def test_bf16_encoder_stays_within_cosine_099_of_fp32():
    enc = ConditionEncoder(ConditionSettings())
    prompts = [SHORT, LONG, "Premise: a man plays a guitar. Hypothesis: a person makes music. Entailment?"]
    fp32, bf16 = enc.features(prompts), enc.features(prompts, bf16=True)
    assert fp32.dtype == bf16.dtype == torch.float32
    cos = torch.nn.functional.cosine_similarity(fp32.flatten(1), bf16.flatten(1))
    assert cos.min() > 0.99 and not torch.equal(fp32, bf16)
    assert next(enc.model.parameters()).dtype == torch.float32  # the shared encoder is untouched


def test_sample_matches_batch():
    feats = torch.arange(5.0)[:, None, None]
    order = ConditionEncoder.sample(5, 8, torch.Generator().manual_seed(3))
    assert sorted(order[:5].tolist()) == list(range(5)) and len(order) == 8  # all once, then cycled
    assert torch.equal(ConditionEncoder.batch(feats, 8, torch.Generator().manual_seed(3)), feats[order])
