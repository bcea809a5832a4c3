"""Text generation for every tenant from one copy of the base model.

The base model is wrapped in PEFT once (dnd.lora.swap.AdapterModel); a request
for adapter X copies X's LoRA weights into the wrapper, a request for the base model runs
with the adapter disabled. All generation runs on one worker thread, one request at a
time, so a weight swap and the generation that uses it can never interleave with another
tenant's: every request gets exactly what a single-tenant run gives (greedy decoding is
bit-identical; tested). Requests queue in arrival order; each has a deadline covering its
wait and its generation (`max_time`). Choice scoring (/v1/classify) runs on the same worker
through `call`, so it never races a generation on the swapped weights.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from dnd.lora.prompt import end_of_turn_id, format_prompt
from dnd.lora.swap import AdapterModel
from dnd.serving.errors import ApiError


@dataclass(frozen=True)
class GenParams:
    max_new_tokens: int
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


def stop_cut(text: str, stops: tuple[str, ...]) -> int | None:
    """Where an answer ends for `stops`: the start of the stop string completed first (the
    smallest end; of those ending there, the longest), None when none occurs. Generation
    stops at that same point, and a stream of the text reaches the same cut whatever its
    chunks (openai_api.StopTrimmer), so streamed and whole answers agree."""
    found = [(i + len(s), i) for s in stops if (i := text.find(s)) >= 0]  # (end, start) of each first occurrence
    return min(found)[1] if found else None


def finish_completion(tokenizer, out: list[int], prompt_tokens: int, finish: str,
                      stop: tuple[str, ...]) -> Completion:
    """Decode the generated tokens `out` and cut them at the first stop string (which makes
    the finish "stop"): the last step of every engine."""
    text = tokenizer.decode(out, skip_special_tokens=True)
    cut = stop_cut(text, stop)
    if cut is not None:
        text, finish = text[:cut], "stop"
    return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=len(out), finish_reason=finish)


class _Cancelled(StoppingCriteria):
    """Stops generation when the client has gone away."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class ChatEngine:
    """One base model, many adapters, one generation at a time (see module docstring)."""

    def __init__(self, base_model: str, lora, store, device: str = "cpu", max_queue: int = 256):
        self.adapters = AdapterModel(base_model, lora, device=device)
        self.model, self.tokenizer = self.adapters.model, self.adapters.tokenizer
        self.store, self.device, self.max_queue = store, device, max_queue
        tok = self.tokenizer
        self.stop_ids = sorted({i for i in (end_of_turn_id(tok), tok.eos_token_id) if i is not None})
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dnd-chat")
        self._current: str | None = None  # adapter whose weights are in the wrapper
        self._pending = 0
        self._count_lock = threading.Lock()

    # ---- prompts -------------------------------------------------------------------------
    def chat_ids(self, messages: list[dict]) -> list[int]:
        """Token ids of a conversation, formatted as the zoo formats its training prompts
        (a single user turn goes through dnd.lora.prompt.format_prompt)."""
        tok = self.tokenizer
        if len(messages) == 1 and messages[0]["role"] == "user":
            text = format_prompt(tok, messages[0]["content"])
        elif getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = "".join(f"{m['content']}\n" for m in messages)
        return tok(text, add_special_tokens=False)["input_ids"]

    def completion_ids(self, prompt: str) -> list[int]:
        """Raw text continuation (no chat template), as OpenAI's /v1/completions."""
        return self.tokenizer(prompt, add_special_tokens=False)["input_ids"]

    # ---- generation ----------------------------------------------------------------------
    def submit(self, adapter: str | None, input_ids: list[int], params: GenParams, deadline: float,
               streamer=None, cancel: threading.Event | None = None) -> Future:
        """Queue one generation (adapter None = the base model); the future gives a Completion.
        Refused with 503 when `max_queue` requests are already waiting."""
        cancel = cancel or threading.Event()
        return self._enqueue(self._run, adapter, input_ids, params, deadline, streamer, cancel)

    def call(self, adapter: str | None, fn, deadline: float) -> Future:
        """Queue `fn(model, tokenizer)` on the generation worker with `adapter` swapped in
        (None = the base model), e.g. choice scoring; the future gives fn's result. It shares
        the queue, its limit and the deadline check with generation."""
        return self._enqueue(self._call, adapter, fn, deadline)

    def _enqueue(self, task, *args) -> Future:
        with self._count_lock:
            if self._pending >= self.max_queue:
                raise ApiError(503, f"server busy: {self._pending} requests queued (limit {self.max_queue})",
                               None, "queue_full")
            self._pending += 1
        return self._worker.submit(task, *args)

    def _select(self, adapter: str | None):
        if adapter is None:
            return self.model.disable_adapter()  # exactly the base model
        state = self.store.state(adapter)
        if self._current != adapter:
            self._current = None  # a failed copy must not leave a stale id behind
            self.adapters.use(state)
            self._current = adapter
        return contextlib.nullcontext()

    @staticmethod
    def _timed_out() -> ApiError:
        return ApiError(503, "request timed out while waiting for the model (see --request-timeout)", None, "timeout")

    def _call(self, adapter, fn, deadline):
        try:
            if deadline - time.monotonic() <= 0:
                raise self._timed_out()
            with self._select(adapter), torch.inference_mode():
                return fn(self.model, self.tokenizer)
        finally:
            with self._count_lock:
                self._pending -= 1

    def _run(self, adapter, input_ids, params: GenParams, deadline, streamer, cancel) -> Completion:
        try:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or cancel.is_set():
                raise self._timed_out()
            with self._select(adapter), torch.inference_mode():
                return self._generate(input_ids, params, remaining, streamer, cancel)
        finally:
            with self._count_lock:
                self._pending -= 1
            if streamer is not None:
                streamer.end()  # the consumer always sees the end of the stream

    def _generate(self, input_ids, params: GenParams, max_time: float, streamer, cancel) -> Completion:
        tok = self.tokenizer
        ids = torch.tensor([input_ids], device=self.device)  # (1, L)
        kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=params.max_new_tokens,
                      eos_token_id=self.stop_ids, pad_token_id=tok.pad_token_id, max_time=max_time,
                      stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)]), streamer=streamer)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        if params.temperature > 0:
            torch.manual_seed(params.seed if params.seed is not None else time.time_ns() % (2**31))
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        out = self.model.generate(**kwargs)[0, len(input_ids):].tolist()
        finish = "stop" if out and out[-1] in self.stop_ids else "length"
        return finish_completion(tok, out, len(input_ids), finish, params.stop)

    def shutdown(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
