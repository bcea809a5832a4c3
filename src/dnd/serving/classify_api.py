"""POST /v1/classify: the probability of each of a prompt's choices, for the base model or
an adapter, optionally calibrated from unlabeled prompts of the task.

    {"model": "dnd-..." | "base" (default), "prompt": "...", "choices": ["positive", "negative"],
     "calibrate": true | false (default: the adapter's `calibrated` mark),
     "calibration_prompts": ["...", ...] (default for an adapter: the prompts it was made from),
     "calibration_rule": "batch" (default) | "domain"}

Each choice is scored as the evaluation's loglik protocol scores it (its length-normalized
log-likelihood after the prompt, formatted as the zoo formats training prompts); the
probabilities are the softmax of those scores, or of the calibrated ones
(dnd.evaluation.calibration: the model's label prior over the choices, estimated from the
unlabeled prompts, is divided out). Priors are cached per (model, label set, rule,
prompts), so a repeated label set costs one forward pass. Scoring runs on the chat engine's
worker with the adapter swapped in, queued with generation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from collections import OrderedDict
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from dnd.evaluation.calibration import estimate, norm_scores, probabilities
from dnd.evaluation.scoring import choice_logprobs
from dnd.serving.errors import ApiError
from dnd.serving.openai_api import BASE_ID, resolve_model
from dnd.tasks.items import Item

router = APIRouter()
MAX_CHOICES = 64
MAX_CHOICE_CHARS = 1000
CALIBRATION_SAMPLE = 256  # calibration prompts read at most (a seeded sample of longer lists)
PRIOR_CACHE = 256  # estimated priors kept in memory (LRU)


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(BASE_ID, min_length=1, max_length=200)
    prompt: str
    choices: list[str]
    calibrate: bool | None = None
    calibration_prompts: list[str] | None = None
    calibration_rule: Literal["batch", "domain"] = "batch"


class PriorCache:
    """Estimated calibrations, LRU-bounded; safe across threads. `hits`/`misses` count lookups."""

    def __init__(self, size: int = PRIOR_CACHE):
        self.size, self.hits, self.misses = size, 0, 0
        self._items: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple):
        """The calibration under `key`, or None."""
        with self._lock:
            if key in self._items:
                self.hits += 1
                self._items.move_to_end(key)
                return self._items[key]
            self.misses += 1
            return None

    def put(self, key: tuple, cal) -> None:
        """Keep `cal` under `key`, dropping the least recently used beyond `size`."""
        with self._lock:
            self._items[key] = cal
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def check_choices(choices: list[str]) -> tuple[str, ...]:
    """The choices as a tuple: 2 to MAX_CHOICES distinct non-blank strings, or a 400."""
    if not 2 <= len(choices) <= MAX_CHOICES:
        raise ApiError(400, f"choices: {len(choices)} given, expected 2 to {MAX_CHOICES}", "choices")
    seen: set[str] = set()
    for i, c in enumerate(choices):
        if not c.strip():
            raise ApiError(400, f"choices[{i}]: empty", f"choices[{i}]")
        if len(c) > MAX_CHOICE_CHARS:
            raise ApiError(400, f"choices[{i}]: {len(c)} characters, the limit is {MAX_CHOICE_CHARS}", f"choices[{i}]")
        if c in seen:
            raise ApiError(400, f"choices: {c[:80]!r} appears more than once", "choices", "duplicate_choice")
        seen.add(c)
    return tuple(choices)


def check_prompt(engine, prompt: str, choices: tuple[str, ...], limits) -> None:
    """400 naming `prompt` where it is blank, or it and the longest choice exceed the limits."""
    if not prompt.strip():
        raise ApiError(400, "prompt: empty", "prompt")
    if len(prompt) > limits.max_prompt_chars:
        raise ApiError(400, f"prompt: {len(prompt)} characters, the limit is {limits.max_prompt_chars}", "prompt",
                       "prompt_too_long")
    n = len(engine.chat_ids([{"role": "user", "content": prompt}]))
    longest = max(len(engine.completion_ids(c)) for c in choices)
    if n + longest > limits.max_input_tokens:
        raise ApiError(400, f"prompt: {n} tokens and {longest} of the longest choice, the limit is "
                            f"{limits.max_input_tokens}", "prompt", "input_too_long")


def calibration_texts(svc, adapter: str | None, req: ClassifyRequest) -> list[str] | None:
    """The unlabeled prompts to calibrate from, or None where this request is not calibrated.
    The default: calibrated when the adapter is marked so or when prompts are given."""
    marked = adapter is not None and svc.store.info(adapter, "model")["calibrated"]
    calibrate = req.calibrate if req.calibrate is not None else (marked or req.calibration_prompts is not None)
    if not calibrate:
        return None
    if req.calibration_prompts is not None:
        prompts = given_prompts(req.calibration_prompts, svc.settings.limits)
    elif adapter is not None:
        prompts = svc.store.prompts(adapter)
        if not prompts:
            raise ApiError(400, f"calibration_prompts: adapter {adapter} has no prompts of its own (it was made "
                                "from a description); give calibration_prompts", "calibration_prompts")
    else:
        raise ApiError(400, "calibration_prompts: the base model has no prompts to calibrate from; give "
                            "calibration_prompts (unlabeled prompts of the task)", "calibration_prompts")
    if len(prompts) > CALIBRATION_SAMPLE:
        prompts = random.Random(0).sample(prompts, CALIBRATION_SAMPLE)
    return prompts


def given_prompts(prompts: list[str], limits) -> list[str]:
    """The request's non-blank calibration prompts (stripped) within the limits, or a 400."""
    if len(prompts) > limits.max_prompts:
        raise ApiError(400, f"calibration_prompts: {len(prompts)} prompts, the limit is {limits.max_prompts}",
                       "calibration_prompts", "too_many_prompts")
    for i, p in enumerate(prompts):
        if len(p) > limits.max_prompt_chars:
            raise ApiError(400, f"calibration_prompts[{i}]: {len(p)} characters, the limit is "
                                f"{limits.max_prompt_chars}", f"calibration_prompts[{i}]", "prompt_too_long")
    out = [p.strip() for p in prompts if p.strip()]
    if not out:
        raise ApiError(400, "calibration_prompts: no non-empty prompt", "calibration_prompts")
    return out


def prior_key(adapter: str | None, choices, rule: str, prompts: list[str]) -> tuple:
    digest = hashlib.sha256(json.dumps(prompts, ensure_ascii=False).encode()).hexdigest()
    return (adapter or BASE_ID, tuple(sorted(choices)), rule, digest)


def scorer(priors: PriorCache, adapter, prompt: str, choices, cal_prompts, rule: str, max_length: int):
    """fn(model, tokenizer) -> (calibration or None, [(sum log-prob, n tokens)] per choice),
    run on the engine's worker: the prior comes from the cache or is estimated there."""
    def run(model, tok):
        cal = None
        if cal_prompts is not None:
            key = prior_key(adapter, choices, rule, cal_prompts)
            cal = priors.get(key)
            if cal is None:
                cal = estimate(model, tok, cal_prompts, choices, rule=rule, max_length=max_length)
                priors.put(key, cal)
        return cal, choice_logprobs(model, tok, [Item(prompt=prompt, choices=choices)], max_length=max_length)[0]

    return run


def answer(model: str, choices, cal, scores) -> dict:
    """The response body: a probability and the normalized log-likelihood per choice."""
    norm = norm_scores(scores)
    probs = probabilities(cal, choices, norm)
    best = max(range(len(choices)), key=probs.__getitem__)
    calibration = None
    if cal is not None:
        prior = dict(zip(cal.choices, cal.prior))
        calibration = {"rule": cal.rule, "n_prompts": cal.n_prompts, "prior": [prior[c] for c in choices]}
    return {"object": "classification", "model": model, "calibrated": cal is not None, "calibration": calibration,
            "choices": [{"choice": c, "probability": p, "logprob": s} for c, p, s in zip(choices, probs, norm)],
            "prediction": choices[best]}


@router.post("/v1/classify")
async def classify(req: ClassifyRequest, request: Request):
    """Probabilities of `choices` after `prompt` (see the module docstring)."""
    svc = request.app.state.svc
    limits = svc.settings.limits
    adapter = resolve_model(svc, req.model)
    choices = check_choices(req.choices)
    check_prompt(svc.engine, req.prompt, choices, limits)
    cal_prompts = calibration_texts(svc, adapter, req)
    fn = scorer(svc.priors, adapter, req.prompt, choices, cal_prompts, req.calibration_rule, limits.max_input_tokens)
    timeout = limits.request_timeout_s
    future = svc.engine.call(adapter, fn, time.monotonic() + timeout)
    try:
        cal, scores = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
    except TimeoutError:
        raise ApiError(503, "classification timed out (see --request-timeout)", None, "timeout") from None
    return answer(req.model, choices, cal, scores)
