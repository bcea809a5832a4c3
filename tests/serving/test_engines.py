"""`dnd serve`'s engines on the real default model and the shipped generator:
llama.cpp (each tenant's GGUF LoRA on the packaged Q4_1 GGUF) and transformers with
batching (requests for different adapters decoded together). Both must give every request
its single-tenant greedy answer, streamed or whole, whatever runs beside it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from serve_live import BOOLQ_LIKE, SST2_LIKE, LiveServer, chat, make_adapter

QUESTIONS = ["Review: a dull, tedious film.\nIs this review positive or negative?",
             "Passage: basalt is a rock found in many places. Question: is basalt a rock? Answer yes or no.",
             "Name a colour."]


def variant(svc, aid: str, scale: float, new_id: str = "dnd-" + "f" * 20) -> str:
    """A second tenant: adapter `aid` with every lora_B times `scale` (the shipped generator
    answers most prompts with nearly the same adapter, so two generated tenants can agree)."""
    import shutil

    from safetensors.torch import load_file, save_file

    src = svc.store.path(aid)

    def build(tmp):
        for f in src.iterdir():
            if f.name != "adapter_model.gguf":
                shutil.copy(f, tmp / f.name)
        state = load_file(src / "adapter_model.safetensors")
        save_file({k: v * scale if "lora_B" in k else v for k, v in state.items()}, tmp / "adapter_model.safetensors")

    svc.store.create(new_id, build)
    return new_id


@pytest.fixture(scope="module")
def shipped():
    from dnd.generator.pretrained import resolve

    return resolve(None)


@pytest.fixture(scope="module")
def cpp(shipped, tmp_path_factory):
    s = LiveServer(shipped, tmp_path_factory.mktemp("cpp"), settings=dict(
        engine="llamacpp", llama_workers=2, resident_adapters=1), max_input_tokens=512)
    yield s
    s.stop()


def test_llamacpp_answers_are_the_gguf_loras(cpp):
    """A chat answered by the llamacpp engine is llama.cpp's greedy answer with the tenant's
    GGUF LoRA (converted once, beside its PEFT files), and differs from the base model's."""
    from dnd.llamacpp.runtime import greedy, load_llama

    aid = make_adapter(cpp.client, SST2_LIKE)["id"]
    gguf = cpp.svc.store.path(aid) / "adapter_model.gguf"
    assert not gguf.exists()  # converted on first use
    got = chat(cpp.client, aid, QUESTIONS[0], max_tokens=12)
    assert gguf.is_file()
    eng = cpp.svc.engine
    ids = eng.chat_ids([{"role": "user", "content": QUESTIONS[0]}])
    assert eng.gguf.name.endswith(".F16.gguf")  # the default weights: the packaged ones as f16
    want = greedy(load_llama(eng.gguf, lora=gguf, flash_attn=True), ids, 12, eng.stop_ids)
    assert got == eng.tokenizer.decode(want, skip_special_tokens=True)
    base = greedy(load_llama(eng.gguf, flash_attn=True), ids, 12, eng.stop_ids)
    assert chat(cpp.client, "base", QUESTIONS[0], max_tokens=12) == eng.tokenizer.decode(base, skip_special_tokens=True)
    assert cpp.client.get("/v1/server").json()["engine"] == "llamacpp"


def test_llamacpp_streaming_isolation_and_lru(cpp):
    a = make_adapter(cpp.client, SST2_LIKE)["id"]
    b = variant(cpp.svc, make_adapter(cpp.client, BOOLQ_LIKE)["id"], -1.0)
    jobs = [(m, q) for q in QUESTIONS for m in (a, b, "base")]
    expected = {job: chat(cpp.client, *job) for job in jobs}  # one at a time
    assert any(expected[(a, q)] != expected[(b, q)] for q in QUESTIONS)  # the tenants differ
    client = openai.OpenAI(base_url=f"{cpp.url}/v1", api_key="x", max_retries=0, timeout=120)

    def ask(i_job):
        i, (model, q) = i_job
        if i % 2:
            stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": q}],
                                                    max_tokens=12, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        return chat(cpp.client, model, q)

    order = list(enumerate(jobs * 2))
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ask, order))
    assert [expected[job] for _, job in order] == got
    stats = cpp.svc.engine.stats()["slots"]
    assert all(len(s["resident"]) <= 1 for s in stats)  # resident_adapters=1: least recently used out
    assert sum(s["evictions"] for s in stats) >= 1
    # /v1/classify still answers (scored by transformers)
    r = cpp.client.post("/v1/classify", json={"model": a, "prompt": QUESTIONS[0], "choices": ["positive", "negative"]})
    assert r.status_code == 200 and r.json()["prediction"] in ("positive", "negative")


def test_transformers_batches_mixed_adapters(shipped, tmp_path):
    """Requests for two adapters and the base model that wait together run as one batch
    (PEFT adapter_names); each answer is the one the same request gets alone."""
    s = LiveServer(shipped, tmp_path, settings=dict(engine="transformers", max_batch=4), max_input_tokens=512)
    try:
        a = make_adapter(s.client, SST2_LIKE)["id"]
        b = variant(s.svc, make_adapter(s.client, BOOLQ_LIKE)["id"], -1.0)
        eng = s.svc.engine
        jobs = [(m, q) for q in QUESTIONS[:2] for m in (a, b, "base")]
        alone = [chat(s.client, m, q, max_tokens=10) for m, q in jobs]
        assert set(eng.batches) == {1}
        with ThreadPoolExecutor(len(jobs)) as pool:
            together = list(pool.map(lambda job: chat(s.client, *job, max_tokens=10), jobs))
        assert together == alone
        assert len({alone[0], alone[1], alone[2]}) == 3  # three different tenants, three answers
        assert max(eng.batches) > 1  # some really ran together
        streamed = "".join(c.choices[0].delta.content or "" for c in openai.OpenAI(
            base_url=f"{s.url}/v1", api_key="x", max_retries=0).chat.completions.create(
                model=a, messages=[{"role": "user", "content": QUESTIONS[0]}], max_tokens=10, stream=True)
            if c.choices)
        assert streamed == alone[0]
    finally:
        s.stop()


def test_llamacpp_needs_a_gguf_base(tiny_generator, tmp_path):
    """A generator of a base model that has no GGUF (here a tiny random Llama): one line naming the flag."""
    from dnd.errors import DndError
    from dnd.serving.app import Services
    from dnd.serving.config import ServeSettings

    with pytest.raises(DndError, match=r"^--engine llamacpp: base model .* needs it as a GGUF file"):
        Services(ServeSettings(generator=str(tiny_generator), data=str(tmp_path), engine="llamacpp"))
