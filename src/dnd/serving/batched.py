"""`dnd serve --engine transformers` with batching: greedy requests that wait together are
decoded in one `generate` call, each row with its own adapter (PEFT's `adapter_names=`).

The PEFT wrapper holds `max_batch` named LoRA slots beside its "default" adapter (which
/v1/classify's `call` keeps using); each slot holds one tenant's weights, least recently
used slots are refilled first. One worker thread runs everything, in arrival order: a batch
of up to `max_batch` greedy generations (the oldest waiting request and those whose prompt
lengths are closest to its), or one `call`, or one sampled generation (a
seeded request is decoded alone, as in dnd.serving.chat). Rows are left-padded (the
attention mask gives each row its own positions) and stop on their own: stop token, their
`max_tokens`, stop strings, deadline or a cancelled stream end a row, and the row's tokens
after that are dropped. A row's greedy answer is the one a request decoded alone gets
(tested on the real model); the speed-up is that one decoding step serves every row.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from dnd.serving.chat import ChatEngine, GenParams, finish_completion, stop_cut
from dnd.serving.errors import ApiError

BASE_ROW = "__base__"  # PEFT's adapter_names entry for a row without adapter


@dataclass(eq=False)  # compared by identity (queue removal)
class _Request:
    adapter: str | None
    ids: list[int]
    params: GenParams
    deadline: float
    streamer: object
    cancel: threading.Event
    future: Future = field(default_factory=Future)
    n_done: int | None = None  # tokens generated when the row ended (None: still running)


class _Rows(StoppingCriteria):
    """Per-row end of generation: stop token, max_tokens, stop strings, deadline, cancel."""

    def __init__(self, reqs: list[_Request], prompt_len: int, stop_ids: list[int], tokenizer):
        self.reqs, self.prompt_len, self.stop_ids, self.tok = reqs, prompt_len, set(stop_ids), tokenizer

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        n = input_ids.shape[1] - self.prompt_len
        now = time.monotonic()
        for i, r in enumerate(self.reqs):
            if r.n_done is not None:
                continue
            last = int(input_ids[i, -1])
            if last in self.stop_ids or n >= r.params.max_new_tokens or r.cancel.is_set() or now >= r.deadline or (
                    r.params.stop and stop_cut(self.tok.decode(input_ids[i, self.prompt_len:].tolist(),
                                                                skip_special_tokens=True), r.params.stop) is not None):
                r.n_done = n
        return torch.tensor([r.n_done is not None for r in self.reqs], dtype=torch.bool, device=input_ids.device)


class _FanOut:
    """A streamer for a batch: row i's new tokens go to request i's own streamer up to the
    row's last token (whether generate checks the stop before or after streaming a step)."""

    def __init__(self, reqs: list[_Request]):
        self.reqs, self.step = reqs, 0  # step 0: the prompts

    def put(self, value) -> None:
        for i, r in enumerate(self.reqs):
            if r.streamer is not None and (self.step == 0 or r.n_done is None or self.step <= r.n_done):
                r.streamer.put(value[i] if self.step == 0 else value[i:i + 1])
        self.step += 1

    def end(self) -> None:
        pass  # each request's streamer is ended when its future is resolved


class BatchedEngine(ChatEngine):
    """ChatEngine that decodes waiting greedy requests together (see the module docstring)."""

    def __init__(self, base_model: str, lora, store, device: str = "cpu", max_queue: int = 256, max_batch: int = 8):
        super().__init__(base_model, lora, store, device=device, max_queue=max_queue)
        self._worker.shutdown(wait=False)  # ChatEngine's executor: replaced by the loop below
        self.max_batch = max_batch
        config = lora.to_peft()
        self._slots: OrderedDict[str, str | None] = OrderedDict()  # slot name -> adapter id in it (LRU order)
        self._params: dict[str, dict[str, torch.nn.Parameter]] = {}  # slot -> {saved name: live parameter}
        for k in range(max_batch):
            name = f"slot{k}"
            self.model.add_adapter(name, config)
            self._slots[name] = None
        live = dict(self.model.named_parameters())
        for name in self._slots:
            self._params[name] = {s: live[s.replace(".weight", f".{name}.weight")] for s in self.adapters._names}
        self.model.set_adapter("default")
        self.model.eval()
        self._queue: deque = deque()
        self._wake = threading.Condition()
        self._stopped = False
        self.batches: list[int] = []  # rows of each batch run (for tests and the benchmark)
        self._thread = threading.Thread(target=self._loop, name="dnd-batched", daemon=True)
        self._thread.start()

    # ---- queueing ------------------------------------------------------------------------
    def _push(self, item) -> Future:
        with self._count_lock:
            if self._pending >= self.max_queue:
                raise ApiError(503, f"server busy: {self._pending} requests queued (limit {self.max_queue})",
                               None, "queue_full")
            self._pending += 1
        with self._wake:
            self._queue.append(item)
            self._wake.notify()
        return item.future if isinstance(item, _Request) else item[0]

    def submit(self, adapter, input_ids, params: GenParams, deadline, streamer=None, cancel=None) -> Future:
        return self._push(_Request(adapter, list(input_ids), params, deadline, streamer, cancel or threading.Event()))

    def call(self, adapter, fn, deadline) -> Future:
        return self._push((Future(), adapter, fn, deadline))

    def _next(self) -> list:
        """The next unit of work: a call, a sampled request, or up to max_batch greedy requests."""
        with self._wake:
            while not self._queue and not self._stopped:
                self._wake.wait()
            if self._stopped:
                return []
            head = self._queue.popleft()
            if not isinstance(head, _Request) or head.params.temperature > 0:
                return [head]
            # the waiting greedy requests closest to the head's prompt length (less padding)
            greedy = [it for it in self._queue if isinstance(it, _Request) and it.params.temperature == 0]
            greedy.sort(key=lambda it: abs(len(it.ids) - len(head.ids)))  # stable: arrival order among equals
            batch = [head, *greedy[: self.max_batch - 1]]
            for item in batch[1:]:
                self._queue.remove(item)
            return batch

    def _loop(self) -> None:
        while True:
            work = self._next()
            if not work:
                return
            try:
                if isinstance(work[0], tuple):
                    future, adapter, fn, deadline = work[0]
                    self._settle(future, lambda: self._call(adapter, fn, deadline))
                elif work[0].params.temperature > 0:
                    r = work[0]
                    self._settle(r.future, lambda: self._run(r.adapter, r.ids, r.params, r.deadline, r.streamer,
                                                             r.cancel))
                else:
                    self._batch(work)
            except BaseException as e:  # a bug: every request of the unit gets it, the loop goes on
                for r in work:
                    f = r.future if isinstance(r, _Request) else r[0]
                    if not f.done():
                        f.set_exception(e)

    @staticmethod
    def _settle(future: Future, fn) -> None:
        """Run fn into future (ChatEngine's _run and _call count the request out themselves)."""
        try:
            future.set_result(fn())
        except BaseException as e:
            future.set_exception(e)

    # ---- one batch -------------------------------------------------------------------------
    def _slot_for(self, needed: list[str]) -> dict[str, str]:
        """{adapter id: slot} for the batch's adapters, loading the missing ones into the least
        recently used slots not needed now."""
        where = {aid: s for s, aid in self._slots.items() if aid in needed}
        for aid in needed:
            if aid in where:
                continue
            free = next(s for s in self._slots if self._slots[s] not in where)
            self._slots[free] = None  # a failed copy must not leave a stale id behind
            state = self.store.state(aid)
            with torch.no_grad():
                for saved, p in self._params[free].items():
                    p.copy_(state[saved].to(p.dtype))
            self._slots[free] = aid
            where[aid] = free
        for s in where.values():
            self._slots.move_to_end(s)
        return where

    def _batch(self, reqs: list[_Request]) -> None:
        live = []
        for r in reqs:
            if r.deadline - time.monotonic() <= 0 or r.cancel.is_set():
                r.future.set_exception(self._timed_out())
            else:
                live.append(r)
        try:
            if live:
                self._decode(live)
        except BaseException as e:
            for r in live:
                if not r.future.done():
                    r.future.set_exception(e)
        finally:
            with self._count_lock:
                self._pending -= len(reqs)
            for r in reqs:
                if r.streamer is not None:
                    r.streamer.end()

    def _decode(self, reqs: list[_Request]) -> None:
        tok = self.tokenizer
        try:
            where = self._slot_for(list(dict.fromkeys(r.adapter for r in reqs if r.adapter is not None)))
        except ApiError as e:  # one unknown adapter (deleted meanwhile): only its requests fail
            bad = [r for r in reqs if r.adapter is not None and not self.store.exists(r.adapter)]
            for r in bad:
                r.future.set_exception(e)
            reqs = [r for r in reqs if r not in bad]
            if not reqs:
                return
            where = self._slot_for(list(dict.fromkeys(r.adapter for r in reqs if r.adapter is not None)))
        width = max(len(r.ids) for r in reqs)
        ids = torch.tensor([[tok.pad_token_id] * (width - len(r.ids)) + r.ids for r in reqs], device=self.device)
        mask = torch.tensor([[0] * (width - len(r.ids)) + [1] * len(r.ids) for r in reqs], device=self.device)
        rows = _Rows(reqs, width, self.stop_ids, tok)
        self.batches.append(len(reqs))
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max(r.params.max_new_tokens for r in reqs),
                eos_token_id=self.stop_ids, pad_token_id=tok.pad_token_id, do_sample=False, temperature=None,
                top_p=None, top_k=None, stopping_criteria=StoppingCriteriaList([rows]), streamer=_FanOut(reqs),
                adapter_names=[where[r.adapter] if r.adapter is not None else BASE_ROW for r in reqs])
        new = out[:, width:].tolist()  # (B, steps)
        for i, r in enumerate(reqs):
            gen = new[i][: r.n_done if r.n_done is not None else r.params.max_new_tokens]
            finish = "stop" if gen and gen[-1] in self.stop_ids else "length"
            r.future.set_result(finish_completion(tok, gen, len(r.ids), finish, r.params.stop))

    def shutdown(self) -> None:
        with self._wake:
            self._stopped = True
            for item in self._queue:
                (item.future if isinstance(item, _Request) else item[0]).cancel()
            self._queue.clear()
            self._wake.notify_all()
