"""Helpers for the serving tests: a real uvicorn server on a free localhost port, over the tiny generator (tiny random Llama
with the real tokenizer), shared by the serving tests of one module."""

from __future__ import annotations

import socket
import threading
import time

import httpx2 as httpx
import pytest

SMALL_LIMITS = dict(max_body_bytes=64 * 1024, max_prompts=50, max_prompt_chars=500, max_description_chars=300,
                    max_new_tokens=64, default_new_tokens=12, max_input_tokens=256, request_timeout_s=60.0)


class LiveServer:
    """`dnd serve`'s app on 127.0.0.1 in a background thread (uvicorn.Server.run)."""

    def __init__(self, generator, data_dir, settings: dict | None = None, **limits):
        import uvicorn

        from dnd.serving.app import Services, create_app
        from dnd.serving.config import ServeLimits, ServeSettings

        settings = ServeSettings(generator=str(generator), data=str(data_dir), task_index_prompts=16,
                                 limits=ServeLimits(**{**SMALL_LIMITS, **limits}),
                                 **{"max_batch": 4, **(settings or {})})  # the serving tests run the batching engine
        self.svc = Services(settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # a free port, held from now on (no race)
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.svc), log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.svc.close()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("serve_data")


@pytest.fixture(scope="module")
def server(tiny_generator, data_dir):
    s = LiveServer(tiny_generator, data_dir)
    yield s
    s.stop()


SST2_LIKE = [f"Review: {w} film, {v} acting.\nIs this review positive or negative?"
             for w, v in [("a gorgeous", "witty"), ("a dull", "wooden"), ("an uneven", "bright"), ("a tender", "fine"),
                          ("a tedious", "flat"), ("a joyful", "sharp"), ("a muddled", "stiff"), ("a brave", "warm")]]
BOOLQ_LIKE = [f"Passage: {t} is a {k} found in many places. Question: is {t} a {k}? Answer yes or no."
              for t, k in [("the oak", "tree"), ("the salmon", "fish"), ("granite", "rock"), ("the robin", "bird"),
                           ("copper", "metal"), ("the tulip", "flower"), ("the cobra", "snake"), ("basalt", "rock")]]


def chat(client, model: str, message: str, max_tokens: int = 12, **extra) -> str:
    r = client.post("/v1/chat/completions", json={"model": model, "max_tokens": max_tokens,
                                                  "messages": [{"role": "user", "content": message}], **extra})
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]["content"]


def make_adapter(client, prompts, **extra) -> dict:
    r = client.post("/v1/adapters", json={"prompts": prompts, **extra})
    assert r.status_code == 200, r.text
    return r.json()
