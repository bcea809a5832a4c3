"""The official `openai` client against `dnd serve`, and tenant isolation: concurrent requests
for different adapters each get exactly the single-tenant greedy answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from serve_live import BOOLQ_LIKE, SST2_LIKE, chat, data_dir, make_adapter, server  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def tenants(server):
    return make_adapter(server.client, SST2_LIKE)["id"], make_adapter(server.client, BOOLQ_LIKE)["id"]


def test_models_and_chat(client, server, tenants):
    ids = [m.id for m in client.models.list().data]
    assert ids[0] == "base" and set(tenants) <= set(ids)
    for model in ("base", *tenants):
        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Is it good?"}],
                                           max_tokens=10, temperature=0)
        assert r.choices[0].message.role == "assistant" and r.model == model
        assert r.choices[0].message.content == chat(server.client, model, "Is it good?", max_tokens=10)
        assert 1 <= r.usage.completion_tokens <= 10 and r.choices[0].finish_reason in ("stop", "length")


def test_streaming_equals_whole_answers(client, tenants):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
    whole = client.chat.completions.create(model=tenants[0], messages=messages, max_tokens=12)
    stream = client.chat.completions.create(model=tenants[0], messages=messages, max_tokens=12, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    done = client.completions.create(model=tenants[1], prompt="The capital of France is", max_tokens=8)
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=tenants[1], prompt="The capital of France is", max_tokens=8, stream=True))
    assert streamed == done.choices[0].text and done.usage.completion_tokens <= 8
    stop = done.choices[0].text[2:5]  # a stop string the answer is known to contain
    cut = client.completions.create(model=tenants[1], prompt="The capital of France is", max_tokens=8, stop=[stop])
    cut_streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=tenants[1], prompt="The capital of France is", max_tokens=8, stop=[stop], stream=True))
    assert cut.choices[0].text == cut_streamed == done.choices[0].text[: done.choices[0].text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_overlapping_stop_strings_cut_streamed_and_whole_answers_alike(client, tenants):
    """Two stop strings completing at the same character: both answers end before the longer."""
    def ask(stops, stream=False):
        r = client.completions.create(model=tenants[1], prompt="The capital of France is", max_tokens=8, stop=stops,
                                      stream=stream)
        return "".join(c.choices[0].text for c in r) if stream else r.choices[0].text

    text = ask(None)
    assert len(text) >= 5 and text.find(text[3:5]) == 3 and text.find(text[2:5]) == 2  # the case to test
    for stops in ([text[3:5], text[2:5]], [text[2:5], text[3:5]]):
        assert ask(stops) == ask(stops, stream=True) == text[:2], stops


def test_client_sees_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="dnd-00000000000000000000", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="base", messages=[{"role": "user", "content": "x"}], max_tokens=10_000)
    assert e.value.body["param"] == "max_tokens"


def test_tenants_never_bleed(server, tenants):
    """Sequential single-tenant greedy answers first; then the same requests interleaved across
    tenants (and the base model) from 12 threads at once, streamed and whole: identical."""
    a, b = tenants
    messages = ["Is this review positive?", "Is granite a rock?", "Say something.", "Answer yes or no."]
    jobs = [(model, m) for m in messages for model in (a, b, "base")]
    expected = {job: chat(server.client, *job) for job in jobs}
    assert len({expected[(a, m)] for m in messages} | {expected[(b, m)] for m in messages}) > 1
    assert any(expected[(a, m)] != expected[(b, m)] for m in messages)  # the tenants really differ

    def ask(i_job):
        i, (model, message) = i_job
        if i % 2:  # half of them streamed
            stream = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0).chat.completions.create(
                model=model, messages=[{"role": "user", "content": message}], max_tokens=12, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        return chat(server.client, model, message)

    order = list(enumerate(jobs * 2))  # 24 requests, adapters interleaved
    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(ask, order))
    for (i, job), answer in zip(order, got):
        assert answer == expected[job], (i, job)
