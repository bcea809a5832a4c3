"""Shared fixtures: tiny random causal LMs built in-process (with the real default
tokenizer, so chat formatting is the real one), a tiny zoo built from them, and a synthetic
BIG-bench cache for the `unseen` suite (bigbench_toy.py: the real archive left PyPI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_tiny_model(path: Path, seed: int = 0, layers: int = 2) -> Path:
    """Save a tiny random Llama (hidden 32) with the default model's tokenizer to `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from dnd.assets import load_tokenizer

    tok = load_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def toy_bigbench(tmp_path_factory) -> Path:
    """Every test reads the unseen suite from a toy BIG-bench cache, written by the real
    fetch code from bigbench_toy's archive, in a folder of its own ($DND_BIGBENCH)."""
    from bigbench_toy import write_toy_tarball

    from dnd.tasks import bigbench_cache, bigbench_fetch, builders_bigbench, registry

    root = tmp_path_factory.mktemp("bigbench")
    tarball = root / "bigbench-1.0.0.tar.gz"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bigbench_fetch, "SDIST_SHA256", write_toy_tarball(tarball))
        mp.setenv(bigbench_cache.BIGBENCH_ENV, str(root / "cache"))
        bigbench_fetch.fetch(builders_bigbench.required_files(), tarball=tarball)
    os.environ[bigbench_cache.BIGBENCH_ENV] = str(root / "cache")
    for module in (bigbench_cache, builders_bigbench, registry):
        module.clear_caches()
    return root / "cache"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(make_tiny_model(tmp_path_factory.mktemp("tiny_model")))


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory) -> str:
    return str(make_tiny_model(tmp_path_factory.mktemp("other_tiny_model"), seed=1))


TINY_ZOO_TASKS = ("sst2", "boolq")


def build_tiny_zoo(zoo_dir: Path, base_model: str, tasks=TINY_ZOO_TASKS, steps: int = 6, keep: int = 3):
    from dnd.lora.settings import LoraSettings
    from dnd.lora.train import TrainSettings
    from dnd.zoo.build import ZooSettings, build_zoo

    settings = ZooSettings(
        tasks=tuple(tasks), out=str(zoo_dir), base_model=base_model, keep=keep,
        lora=LoraSettings(r=4, lora_alpha=8),
        train=TrainSettings(steps=steps, batch_size=2, lr=1e-2, warmup_steps=1, max_length=64),
    )
    return build_zoo(settings)


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory, tiny_model) -> Path:
    zoo = tmp_path_factory.mktemp("zoo") / "zoo"
    build_tiny_zoo(zoo, tiny_model)
    return zoo


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory, tiny_zoo) -> Path:
    from dnd.generator import config as C
    from dnd.generator.condition import ConditionSettings
    from dnd.generator.train import train_generator

    out = tmp_path_factory.mktemp("gen") / "gen"
    config = C.GeneratorConfig(
        condition=ConditionSettings(n_prompts=8),
        decoder=C.DecoderSettings(hidden_channels=(16,)),
        train=C.GenTrainSettings(steps=30, batch_size=4, lr=3e-3, warmup_steps=5, max_pool=64),
    )
    train_generator(tiny_zoo, out, config)
    return out


@pytest.fixture(scope="session")
def tiny_residual_generator(tmp_path_factory, tiny_zoo) -> Path:
    """The shipped generator's kind at tiny size: shared head, residual over the zoo mean
    (the written adapter has r 4 + 4), a few reconstruction steps so the delta is not zero."""
    from dnd.generator import config as C
    from dnd.generator.condition import ConditionSettings
    from dnd.generator.train import train_generator

    out = tmp_path_factory.mktemp("residual_gen") / "gen"
    config = C.GeneratorConfig(
        condition=ConditionSettings(n_prompts=8), decoder=C.DecoderSettings(hidden_channels=(16,)),
        head=C.HeadSettings(width=16, embed_dim=8, cond_dim=16, b_scale=1.0), reference="zoo-mean",
        train=C.GenTrainSettings(steps=3, batch_size=2, warmup_steps=1, max_pool=16),
    )
    train_generator(tiny_zoo, out, config)
    return out
