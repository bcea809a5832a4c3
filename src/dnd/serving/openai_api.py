"""OpenAI-compatible routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions.

`model` is an adapter id (dnd-...) or the base model ("base", or the base model's own
name). `stream: true` answers with server-sent events (chunks, then `data: [DONE]`), as
the official `openai` client expects. Decoding is greedy unless `temperature` > 0 (the
default is 0, unlike OpenAI's 1: a tenant's answer is then reproducible). `stop` strings
end generation and are cut from the answer, streamed or whole.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse
from transformers import AsyncTextIteratorStreamer

from dnd.serving.chat import GenParams, stop_cut
from dnd.serving.errors import ApiError, error_body
from dnd.serving.tenants import check_id

router = APIRouter()
BASE_ID = "base"


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]


class Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI fields this server does not use are ignored

    model: str = Field(min_length=1, max_length=200)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict | None = None


class ChatRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)


class CompletionRequest(Sampling):
    prompt: str | list[str]


def resolve_model(svc, model: str) -> str | None:
    """None for the base model, else an existing adapter id (400 if malformed, 404 if unknown)."""
    if model in (BASE_ID, svc.base_name):
        return None
    svc.store.require(check_id(model, "model"), "model")
    return model


def gen_params(req: Sampling, limits, max_tokens: int | None) -> GenParams:
    n = max_tokens or limits.default_new_tokens
    if n > limits.max_new_tokens:
        field = "max_completion_tokens" if getattr(req, "max_completion_tokens", None) else "max_tokens"
        raise ApiError(400, f"{field}: {n} exceeds the limit of {limits.max_new_tokens}", field, "too_many_tokens")
    stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    if len(stop) > 4 or any(not s for s in stop):
        raise ApiError(400, "stop: at most 4 non-empty strings", "stop")
    return GenParams(max_new_tokens=n, temperature=req.temperature, top_p=req.top_p, seed=req.seed, stop=stop)


def check_length(ids: list[int], limits, field: str) -> None:
    if len(ids) > limits.max_input_tokens:
        raise ApiError(400, f"{field}: {len(ids)} tokens, the limit is {limits.max_input_tokens}", field,
                       "input_too_long")


@router.get("/v1/models")
def list_models(request: Request):
    svc = request.app.state.svc
    base = {"id": BASE_ID, "object": "model", "created": int(svc.started), "owned_by": "dnd", "root": svc.base_name}
    adapters = [{"id": a["id"], "object": "model", "created": int(a["created"] or 0), "owned_by": "dnd",
                 "root": svc.base_name, "parent": BASE_ID} for a in svc.store.list()]
    return {"object": "list", "data": [base, *adapters]}


@router.get("/v1/models/{model}")
def get_model(model: str, request: Request):
    for m in list_models(request)["data"]:
        if m["id"] == model or (model == request.app.state.svc.base_name and m["id"] == BASE_ID):
            return m
    resolve_model(request.app.state.svc, model)  # 400 or 404 naming the field
    raise ApiError(404, f"model: no model {model!r}", "model", "model_not_found")


def _text(content) -> str:
    return content if isinstance(content, str) else "".join(p.text for p in content)


@router.post("/v1/chat/completions")
async def chat_completions(req: ChatRequest, request: Request):
    svc = request.app.state.svc
    limits = svc.settings.limits
    adapter = resolve_model(svc, req.model)
    if len(req.messages) > limits.max_messages:
        raise ApiError(400, f"messages: {len(req.messages)} messages, the limit is {limits.max_messages}", "messages")
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": _text(m.content)}
                for m in req.messages]
    ids = svc.engine.chat_ids(messages)
    check_length(ids, limits, "messages")
    params = gen_params(req, limits, req.max_completion_tokens or req.max_tokens)
    return await _respond(svc, req, adapter, ids, params, chat=True)


@router.post("/v1/completions")
async def completions(req: CompletionRequest, request: Request):
    svc = request.app.state.svc
    limits = svc.settings.limits
    adapter = resolve_model(svc, req.model)
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    if len(prompts) != 1:
        raise ApiError(400, "prompt: exactly one prompt per request", "prompt")
    ids = svc.engine.completion_ids(prompts[0])
    if not ids:
        raise ApiError(400, "prompt: empty", "prompt")
    check_length(ids, limits, "prompt")
    params = gen_params(req, limits, req.max_tokens)
    return await _respond(svc, req, adapter, ids, params, chat=False)


def _envelope(rid: str, model: str, chat: bool, stream: bool) -> dict:
    obj = ("chat.completion" if chat else "text_completion") + (".chunk" if stream and chat else "")
    return {"id": rid, "object": obj, "created": int(time.time()), "model": model}


def _usage(c) -> dict:
    return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
            "total_tokens": c.prompt_tokens + c.completion_tokens}


async def _respond(svc, req: Sampling, adapter, ids, params: GenParams, chat: bool):
    rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
    deadline = time.monotonic() + svc.settings.limits.request_timeout_s
    if not req.stream:
        c = await asyncio.wrap_future(svc.engine.submit(adapter, ids, params, deadline))
        choice = ({"index": 0, "message": {"role": "assistant", "content": c.text}, "finish_reason": c.finish_reason}
                  if chat else {"index": 0, "text": c.text, "logprobs": None, "finish_reason": c.finish_reason})
        return {**_envelope(rid, req.model, chat, False), "choices": [choice], "usage": _usage(c)}

    streamer = AsyncTextIteratorStreamer(svc.engine.tokenizer, skip_prompt=True, skip_special_tokens=True)
    cancel = threading.Event()
    future = asyncio.wrap_future(svc.engine.submit(adapter, ids, params, deadline, streamer, cancel))
    head = _envelope(rid, req.model, chat, True)
    include_usage = bool((req.stream_options or {}).get("include_usage"))

    def chunk(text: str | None, finish: str | None = None, first: bool = False) -> dict:
        if chat:
            delta = ({"role": "assistant", "content": ""} if first else {}) | ({"content": text} if text else {})
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
        return {"data": _json({**head, "choices": [choice]})}

    async def events():
        try:
            if chat:
                yield chunk(None, first=True)
            trim = StopTrimmer(params.stop)
            async for text in streamer:
                if text := trim.feed(text):
                    yield chunk(text)
            if text := trim.flush():
                yield chunk(text)
            try:
                c = await future
            except ApiError as e:
                yield {"data": _json(e.body())}
                return
            except Exception as e:  # a bug, not the client's fault: still an error event, not a cut stream
                yield {"data": _json(error_body(500, f"generation failed: {type(e).__name__}: {e}"))}
                return
            yield chunk(None, c.finish_reason)
            if include_usage:
                yield {"data": _json({**head, "choices": [], "usage": _usage(c)})}
            yield {"data": "[DONE]"}
        finally:
            cancel.set()  # the client went away (or we are done): stop generating

    return EventSourceResponse(events(), ping=15)


class StopTrimmer:
    """Streamed text with the stop strings cut as in a whole answer (chat.stop_cut): text
    that may be the start of a stop string is held back until the next piece decides it.
    The first stop string to complete decides the cut, as it ends generation; how the text
    is split into pieces does not matter."""

    def __init__(self, stops: tuple[str, ...]):
        self.stops, self.buf, self.done = stops, "", False

    def feed(self, text: str) -> str:
        if self.done or not self.stops:
            return "" if self.done else text
        self.buf += text
        cut = stop_cut(self.buf, self.stops)  # any stop string starts inside buf (held back below)
        if cut is not None:
            self.done = True
            return self.buf[:cut]
        hold = max((k for s in self.stops for k in range(1, len(s)) if self.buf.endswith(s[:k])), default=0)
        out, self.buf = self.buf[: len(self.buf) - hold], self.buf[len(self.buf) - hold:]
        return out

    def flush(self) -> str:
        return "" if self.done else self.buf


def _json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)
