"""Cached scoring shared by the benchmark (dnd.evaluation.unseen) and the seen-task recovery
rung (dnd.evaluation.recovery): one wrapped base model per LoRA shape, each method's score on
a task's items cached by the adapter's weights digest, and a per-task lock that lets parallel
runs share a task list."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from pathlib import Path

import torch

from dnd.evaluation.reproduce import Cache
from dnd.evaluation.scoring import CACHE_NAMES, evaluate_items
from dnd.lora.settings import LoraSettings
from dnd.lora.swap import AdapterModel


def state_digest(state: dict[str, torch.Tensor] | None) -> str:
    """Short content hash of an adapter's weights: the cache key of its scores."""
    if state is None:
        return "base"
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class Runner:
    """One wrapped base model per LoRA shape (zoo r=8, residual generators r=16), built lazily."""

    def __init__(self, base_model: str, device: str, precision: str = "fp32"):
        self.base_model, self.device, self.precision, self._models = base_model, device, precision, {}

    def model(self, lora: LoraSettings) -> AdapterModel:
        key = (lora.r, lora.lora_alpha, lora.target_modules)
        if key not in self._models:
            self._models[key] = AdapterModel(self.base_model, lora, self.device, self.precision)
        return self._models[key]


class Scorer:
    """Cached scoring of one method on one task's items (shared with dnd.evaluation.recovery).

    Each piece is cached under CACHE_NAMES[protocol][-precision]/n{items}/TASK/TAG: its
    accuracy, per-item correctness and (loglik) the length-normalized choice scores that
    calibration re-weighs. `computed` counts the pieces scored rather than read."""

    def __init__(self, cache: Cache, runner: Runner, protocol: str = "loglik", batch_size: int = 16,
                 max_length: int = 512):
        self.cache, self.runner, self.protocol = cache, runner, protocol
        self.batch_size, self.max_length, self.computed = batch_size, max_length, 0
        self.suffix = "" if runner.precision == "fp32" else "-" + runner.precision

    def score(self, task: str, tag: str, state, lora: LoraSettings, items, shots=()) -> dict:
        """The method's cached piece: accuracy, per-item correctness and choice scores."""
        loglik = self.protocol == "loglik"
        key = f"{CACHE_NAMES[self.protocol]}{self.suffix}/n{len(items)}/{task}/{tag}"
        hit = self.cache.get(key)
        if hit is None or (loglik and "norm" not in hit):  # pieces cached before calibration lack the scores
            m = self.runner.model(lora).use(state)
            r = evaluate_items(m.model, m.tokenizer, items, self.protocol, shots=shots, batch_size=self.batch_size,
                               max_length=self.max_length)
            hit = {**r.summary(), "correct": [int(p["correct"]) for p in r.predictions]}
            if loglik:
                hit["norm"] = [p["norm"] for p in r.predictions]
            self.cache.put(key, hit)
            self.computed += 1
        return hit

    def adapter(self, task: str, state, lora: LoraSettings, items) -> dict:
        """An adapter's piece, tagged by its weights' digest (the same weights: the same piece)."""
        return self.score(task, f"adapter_{state_digest(state)}", state, lora, items)


@contextlib.contextmanager
def task_claim(work: Path, task: str, wait: bool):
    """An exclusive lock on `task` while one process scores it (the OS drops it when the
    process ends, kill -9 included): parallel runs over the same task list share the tasks as
    they go instead of splitting them in advance. Yields False where another process holds
    it and `wait` is False."""
    path = work / "claims" / f"{task}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:  # "a": the lock file is never written, its time never changes
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
