"""The out-of-domain note: which of the generator's training tasks look most like the
dropped prompts, and how far even the nearest one is.

Each training task is summarised by the mean embedding of (up to) `per_task` prompts of its
train pool (each read up to `max_tokens` word pieces), embedded with the generator's own condition encoder (normalized sentence
embeddings); the dropped prompts likewise. Similarity is the cosine of the two means. The
task means are computed once per generator and cached in the data directory as
safetensors (task names in its metadata); a generator directory may carry them already
(SHIPPED, written by `python -m dnd.cli.pretrained export`, listed in its manifest).
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file

from dnd.fileio import save_safetensors

SHIPPED = "task_index.safetensors"  # in a generator directory: its task means, built at export


class TaskIndex:
    """Mean prompt embeddings of a generator's training tasks."""

    def __init__(self, generator, data_dir: str | Path, generator_fp: str, per_task: int = 64, max_tokens: int = 128,
                 shipped: str | Path | None = None):
        self.generator, self.max_tokens = generator, max_tokens
        name = f"{generator_fp[:20]}-{per_task}-{max_tokens}.safetensors"
        self.path = Path(data_dir) / "task_index" / name
        self.tasks, self.means = self._load_or_build(per_task, Path(shipped) if shipped else None)  # list[str], (T, D)

    def embed(self, texts: list[str]) -> torch.Tensor:
        """(n, D) normalized sentence embeddings from the generator's condition encoder, each
        text read up to `max_tokens` word pieces (a long passage costs no more than that)."""
        enc = self.generator.encoder.model
        default = enc.max_seq_length
        enc.max_seq_length = min(default, self.max_tokens)  # the encoder is shared: restore it
        try:
            return enc.encode(texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True,
                              show_progress_bar=False).float().cpu()
        finally:
            enc.max_seq_length = default

    @staticmethod
    def _read(path: Path) -> tuple[list[str], torch.Tensor, dict]:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        return json.loads(meta["tasks"]), load_file(path)["means"].float(), meta

    def _load_or_build(self, per_task: int, shipped: Path | None) -> tuple[list[str], torch.Tensor]:
        if self.path.exists():
            return self._read(self.path)[:2]
        if shipped is not None and shipped.exists():  # built with the same encoder when it was exported
            tasks, means, meta = self._read(shipped)
            if (meta.get("per_task"), meta.get("max_tokens")) == (str(per_task), str(self.max_tokens)):
                return tasks, means
        from dnd.tasks.registry import load_pools

        tasks, means = [], []
        for task in self.generator.saved.get("tasks", []):
            try:
                prompts = [it.prompt for it in load_pools(task)[0][:per_task]]
            except Exception as e:  # a task this install cannot build: leave it out of the note
                warnings.warn(f"nearest-task note: task {task} left out ({e})")
                continue
            if prompts:
                tasks.append(task)
                means.append(self.embed(prompts).mean(0))
        dim = means[0].shape[0] if means else 1
        stacked = torch.stack(means) if means else torch.zeros(0, dim)  # (T, D)
        save_safetensors(self.path, {"means": stacked}, metadata={"tasks": json.dumps(tasks), "per_task": str(per_task),
                                                                  "max_tokens": str(self.max_tokens)})
        return tasks, stacked

    def nearest(self, texts: list[str], k: int = 3, sample: int = 64) -> list[dict]:
        """The k training tasks nearest to `texts` (a seeded sample of at most `sample`),
        as [{"task", "similarity"}], most similar first."""
        if not self.tasks or not texts:
            return []
        if len(texts) > sample:
            texts = random.Random(0).sample(texts, sample)
        q = self.embed(texts).mean(0)  # (D,)
        sims = torch.nn.functional.cosine_similarity(self.means, q[None], dim=1)  # (T,)
        order = torch.argsort(sims, descending=True)[:k]
        return [{"task": self.tasks[i], "similarity": round(float(sims[i]), 4)} for i in order.tolist()]
