"""`dnd serve --engine llamacpp`: chats answered by llama.cpp on the packaged GGUF base model,
each tenant's adapter applied as a GGUF LoRA.

    W worker slots, each a llama_cpp.Llama over the same mmap'ed GGUF (one thread each by
    default: two slots use two cores for two requests at once), each with its own context
    and an LRU of at most `resident` loaded GGUF LoRAs (least recently used freed first)

A tenant's GGUF is converted once from its PEFT directory (dnd.llamacpp.export), written
atomically beside the safetensors (DATA/adapters/<id>/adapter_model.gguf), so it is
deleted with it and survives a restart. The base weights are the packaged GGUF's, stored
as f16 by default (`weights="f16"`, made once by dnd.llamacpp.runtime.requantized: llama.cpp
evaluates prompts faster from f16 than from Q4_1 here), as q8_0, or as packaged ("q4_1"). A request
sets its adapter on its slot's context (llama_set_adapters_lora; the base model: none);
a change of adapter empties the slot's cache, and otherwise only the prefix shared with
the slot's previous request (the chat template's system turn) is kept: llama.cpp computes
each cached value the same way whatever the batch, so every answer is the single-tenant
answer whatever ran before on that slot (tested). Token ids are
the transformers tokenizer's, which the default model reads from the same GGUF, so the
prompt formatting, stop tokens, stop strings, streaming and usage counts are the
transformers engine's (dnd.serving.chat). /v1/classify still scores with transformers
(`call`, inherited): llama.cpp here has no batched log-likelihood of several choices.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from dnd.serving.chat import ChatEngine, Completion, GenParams, finish_completion, stop_cut
from dnd.serving.errors import ApiError


class _Slot:
    """One llama.cpp context and the GGUF LoRAs loaded for it (an LRU of `resident`)."""

    def __init__(self, llm, resident: int):
        self.llm, self.resident = llm, resident
        self.loaded: OrderedDict[str, object] = OrderedDict()  # adapter id -> llama_adapter_lora_p
        self.current: str | None = None  # adapter set on the context (None: the base model)
        self.loads = self.evictions = 0

    def use(self, aid: str | None, path: Path | None) -> None:
        """Set adapter `aid` (its GGUF at `path`; None: the base model) on this context."""
        import llama_cpp

        if aid is not None and aid not in self.loaded:
            ptr = llama_cpp.llama_adapter_lora_init(self.llm.model, str(path).encode())
            if not ptr:
                raise ApiError(500, f"model: llama.cpp cannot load the GGUF LoRA of {aid}", "model", "adapter_load")
            self.loaded[aid] = ptr
            self.loads += 1
        if aid is not None:
            self.loaded.move_to_end(aid)
        if aid != self.current:
            if aid is None:
                rc = llama_cpp.llama_set_adapters_lora(self.llm.ctx, None, 0, None)
            else:
                ptrs = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self.loaded[aid])
                rc = llama_cpp.llama_set_adapters_lora(self.llm.ctx, ptrs, 1, (ctypes.c_float * 1)(1.0))
            self.llm.reset()  # the cache was computed with other weights: never reused
            if rc != 0:
                self.current = "?"  # unknown state: set again next time
                raise ApiError(500, f"model: llama.cpp cannot set the adapter {aid}", "model", "adapter_set")
            self.current = aid
        while len(self.loaded) > self.resident:  # never the one in use: it is the most recent
            _, ptr = self.loaded.popitem(last=False)
            llama_cpp.llama_adapter_lora_free(ptr)
            self.evictions += 1


class LlamaCppEngine(ChatEngine):
    """ChatEngine whose generations run on llama.cpp slots (see the module docstring)."""

    def __init__(self, base_model: str, lora, store, device: str = "cpu", max_queue: int = 256,
                 workers: int = 2, threads: int = 1, resident: int = 8, n_ctx: int = 4096, weights: str = "f16"):
        from dnd.llamacpp.runtime import base_gguf, load_llama, requantized

        gguf = base_gguf(base_model)  # a one-line error for a base model without a GGUF, before loading
        if weights != "q4_1":
            gguf = requantized(gguf, weights)
        self.gguf = gguf
        super().__init__(base_model, lora, store, device=device, max_queue=max_queue)
        self.slots = [_Slot(load_llama(gguf, n_ctx=n_ctx, n_threads=threads, flash_attn=True), resident) for _ in range(workers)]
        self._idle = list(self.slots)
        self._slot_lock = threading.Lock()
        self._convert_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dnd-llamacpp")

    def stats(self) -> dict:
        """Per-slot adapter loads, evictions and residents (for tests and /v1/server)."""
        return {"slots": [{"resident": list(s.loaded), "loads": s.loads, "evictions": s.evictions}
                          for s in self.slots]}

    def submit(self, adapter: str | None, input_ids: list[int], params: GenParams, deadline: float,
               streamer=None, cancel: threading.Event | None = None) -> Future:
        cancel = cancel or threading.Event()
        with self._count_lock:
            if self._pending >= self.max_queue:
                raise ApiError(503, f"server busy: {self._pending} requests queued (limit {self.max_queue})",
                               None, "queue_full")
            self._pending += 1
        return self._pool.submit(self._run_cpp, adapter, input_ids, params, deadline, streamer, cancel)

    def gguf_path(self, aid: str) -> Path:
        """The tenant's GGUF LoRA, converted from its PEFT directory on first use."""
        from dnd.llamacpp.export import GGUF_NAME, export_gguf

        path = self.store.require(aid, "model") / GGUF_NAME
        if not path.is_file():
            with self._convert_lock:
                if not path.is_file():
                    export_gguf(path.parent, path, flag="base model")
        return path

    def _take(self, adapter: str | None) -> _Slot:
        """An idle slot, preferring one with `adapter` already set, then one holding it."""
        with self._slot_lock:
            pick = next((s for s in self._idle if s.current == adapter), None) \
                or next((s for s in self._idle if adapter in s.loaded), None) or self._idle[0]
            self._idle.remove(pick)
            return pick

    def _run_cpp(self, adapter, input_ids, params: GenParams, deadline, streamer, cancel) -> Completion:
        slot = None
        try:
            if deadline - time.monotonic() <= 0 or cancel.is_set():
                raise self._timed_out()
            path = self.gguf_path(adapter) if adapter is not None else None
            slot = self._take(adapter)
            slot.use(adapter, path)
            return self._decode(slot.llm, input_ids, params, deadline, streamer, cancel)
        finally:
            if slot is not None:
                with self._slot_lock:
                    self._idle.append(slot)
            with self._count_lock:
                self._pending -= 1
            if streamer is not None:
                streamer.end()

    def _decode(self, llm, input_ids, params: GenParams, deadline, streamer, cancel) -> Completion:
        import torch

        if streamer is not None:
            streamer.put(torch.tensor(input_ids))  # the prompt: skipped by the streamer (skip_prompt)
        if params.temperature > 0:
            llm.set_seed(params.seed if params.seed is not None else time.time_ns() % (2**31))
            sampling = dict(temp=params.temperature, top_p=params.top_p, top_k=0, min_p=0.0)
        else:
            sampling = dict(temp=0.0, top_k=1, top_p=1.0, min_p=0.0)
        out: list[int] = []
        finish = "length"
        # reset=True: the cache keeps only the longest prefix shared with the slot's previous
        # request (same adapter: `use` empties it on a change), i.e. the system prompt
        for token in llm.generate(input_ids, repeat_penalty=1.0, reset=True, **sampling):
            out.append(token)
            if streamer is not None:
                streamer.put(torch.tensor([token]))
            if token in self.stop_ids:
                finish = "stop"
                break
            if params.stop and stop_cut(self.tokenizer.decode(out, skip_special_tokens=True), params.stop) is not None:
                break
            if len(out) >= params.max_new_tokens or cancel.is_set() or time.monotonic() >= deadline:
                break
        return finish_completion(self.tokenizer, out, len(input_ids), finish, params.stop)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().shutdown()
