"""The plain-torch MiniLM (dnd.generator.sentence_encoder) against sentence-transformers itself:
the same bits for every prompt, precision, truncation and batching dnd uses, hence the same
adapters; and which encoders take the fast path."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from dnd.assets import resolve_encoder
from dnd.errors import DndError
from dnd.generator.sentence_encoder import BertSentenceEncoder, load_encoder, supported

PROMPTS = [
    "Is it raining?",
    "Premise: a man plays a guitar on a crowded street corner. Hypothesis: a person makes music. Entailment?",
    "Ünïcödé café 東京 naïve — “quotes” and emoji 😀",
    "Read the passage and answer. " + "The river rose slowly through the night while the town slept. " * 12,
    "  spaced   out  ",
    "x",
]


@pytest.fixture(scope="module")
def encoders():
    from sentence_transformers import SentenceTransformer

    fast, real = load_encoder(), load_encoder(backend="sentence-transformers")
    assert isinstance(fast, BertSentenceEncoder) and isinstance(real, SentenceTransformer)
    return fast, real


def _both(model, prompts, max_len, batch_size, **kw):
    default = model.max_seq_length
    model.max_seq_length = max_len
    try:
        return model.encode(prompts, batch_size=batch_size, show_progress_bar=False, **kw)
    finally:
        model.max_seq_length = default


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sentence_embeddings_are_bit_identical(encoders, dtype):
    fast, real = encoders
    if dtype != torch.float32:  # how dnd makes its bf16 encoder from each backend
        fast, real = load_encoder(dtype=dtype), copy.deepcopy(real).to(dtype)
    for max_len, batch_size, prompts in [(256, 64, PROMPTS), (128, 64, PROMPTS), (16, 4, PROMPTS),
                                         (128, 64, PROMPTS[:1]), (128, 2, PROMPTS[1:4])]:
        want = _both(real, prompts, max_len, batch_size, convert_to_tensor=True, normalize_embeddings=True)
        got = _both(fast, prompts, max_len, batch_size, convert_to_tensor=True, normalize_embeddings=True)
        assert got.dtype == want.dtype == dtype and got.shape == (len(prompts), 384)
        assert torch.equal(got, want), (max_len, batch_size, (got.float() - want.float()).abs().max())
        raw = _both(fast, prompts, max_len, batch_size, convert_to_tensor=True)  # Normalize module only
        assert torch.equal(raw, _both(real, prompts, max_len, batch_size, convert_to_tensor=True))


def test_token_embeddings_are_bit_identical(encoders):
    fast, real = encoders
    want = _both(real, PROMPTS, 32, 4, output_value="token_embeddings")
    got = _both(fast, PROMPTS, 32, 4, output_value="token_embeddings")
    assert [g.shape for g in got] == [w.shape for w in want] and want[0].shape[0] < 32 == want[3].shape[0]
    assert all(torch.equal(g, w) for g, w in zip(got, want))


@pytest.mark.parametrize("bf16", [True, False])
def test_the_shipped_generator_writes_the_same_adapter_with_either_encoder(monkeypatch, bf16):
    from dnd.generator.generate import Generator

    prompts = [p for p in PROMPTS for _ in range(2)] + [f"Review number {i}: fine. Positive?" for i in range(30)]
    states, kinds = [], []
    for backend in ("auto", "sentence-transformers"):
        monkeypatch.setenv("DND_ENCODER_BACKEND", backend)
        gen = Generator.from_pretrained()
        gen.bf16 = bf16  # dnd picks bf16 where it is native; both paths are checked everywhere
        states.append(gen.generate(prompts, seed=3))
        kinds.append(type(gen.encoder.bf16_model if bf16 else gen.encoder.model).__name__)
    assert kinds == ["BertSentenceEncoder", "SentenceTransformer"]
    a, b = states
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_backend_choice_and_refusal(monkeypatch):
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("DND_ENCODER_BACKEND", "sentence-transformers")
    assert isinstance(load_encoder(), SentenceTransformer)
    monkeypatch.setenv("DND_ENCODER_BACKEND", "onnx")
    with pytest.raises(DndError, match="DND_ENCODER_BACKEND=onnx"):
        load_encoder()
    monkeypatch.delenv("DND_ENCODER_BACKEND")
    assert load_encoder() is load_encoder() and load_encoder(dtype=torch.bfloat16) is not load_encoder()
    assert next(load_encoder().parameters()).dtype == torch.float32  # the bf16 copy left it alone


def _copy_minilm(tmp_path):
    dst = tmp_path / "enc"
    shutil.copytree(resolve_encoder(), dst)
    return dst


def test_only_the_pipeline_it_reproduces_takes_the_fast_path(tmp_path):
    folder = _copy_minilm(tmp_path)
    assert supported(folder)
    pooling = folder / "1_Pooling" / "config.json"
    cfg = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**cfg, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    assert not supported(folder) and BertSentenceEncoder.load(folder) is None  # cls pooling: sentence-transformers
    pooling.write_text(json.dumps(cfg))
    modules = json.loads((folder / "modules.json").read_text())
    dense = {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    (folder / "modules.json").write_text(json.dumps(modules + [dense]))
    assert not supported(folder)
    (folder / "modules.json").write_text(json.dumps(modules[:2]))  # no Normalize: still exact, not normalized
    enc = BertSentenceEncoder.load(folder)
    emb = enc.encode(PROMPTS[:2], convert_to_tensor=True)
    assert enc.normalize is False and not torch.allclose(emb.norm(dim=1), torch.ones(2))
    cfg_model = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg_model, "hidden_act": "gelu_new"}))
    assert not supported(folder)


def test_a_checkpoint_missing_a_tensor_is_refused_by_name(tmp_path):
    from safetensors.torch import load_file

    folder = _copy_minilm(tmp_path)
    state = load_file(folder / "model.safetensors")
    del state["encoder.layer.3.output.dense.bias"]
    save_file(state, folder / "model.safetensors")
    with pytest.raises(DndError, match="model.safetensors has no tensor encoder.layer.3.output.dense.bias"):
        BertSentenceEncoder.load(folder)
