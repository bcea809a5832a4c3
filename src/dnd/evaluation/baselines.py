"""Baselines that need no evaluation loop of their own: nearest training LoRA by prompt
embedding, the in-context shot budget, and the majority answer."""

from __future__ import annotations

from collections import Counter

import torch

from dnd.errors import DndError
from dnd.generator.condition import ConditionEncoder, ConditionSettings
from dnd.lora.prompt import format_prompt
from dnd.tasks.items import Item
from dnd.tasks.registry import load_pools


def nearest_task(target_feats: torch.Tensor, candidates: dict[str, torch.Tensor]) -> tuple[str, dict[str, float]]:
    """Training task whose mean prompt embedding is closest (cosine) to the target's.

    target_feats: (n, ...) pooled features of the held-out condition prompts;
    candidates: task -> (m, ...) features of its train-pool prompts.
    """
    def centroid(f: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(f.reshape(f.shape[0], -1).mean(0), dim=0)

    t = centroid(target_feats)
    sims = {task: float(centroid(f) @ t) for task, f in candidates.items()}
    return max(sims, key=sims.get), sims


class NearestTask:
    """Retrieval behind the nearest-LoRA baseline: among `candidates`, the task whose first
    `n_prompts` train-pool prompts are closest to a task's own first `n_prompts` (`nearest_task`
    on MiniLM features, `encoder_max_tokens` tokens a prompt). Candidate features are read at
    the first call, then kept. The unseen benchmark and scripts/nearest_zoo.sh (which trains
    only the LoRAs it retrieves) both call this, so they always pick the same tasks."""

    def __init__(self, candidates: list[str], n_prompts: int = 32, encoder_max_tokens: int = 128):
        self.candidates, self.n_prompts = list(candidates), n_prompts
        self.encoder = ConditionEncoder(ConditionSettings(encoder_max_tokens=encoder_max_tokens))  # pooled
        self._feats: dict[str, torch.Tensor] = {}

    def features(self, task: str) -> torch.Tensor:
        return self.encoder.cached_features([it.prompt for it in load_pools(task)[0][: self.n_prompts]])

    def __call__(self, task: str) -> str:
        if task in self.candidates:
            raise DndError(f"nearest LoRA: {task} is among its own candidates (retrieve among training tasks)")
        if not self._feats:
            self._feats = {t: self.features(t) for t in self.candidates}
        return nearest_task(self.features(task), self._feats)[0]


def max_shots(tok, train: list[Item], eval_items: list[Item], context: int, cap: int = 32) -> int:
    """Largest k such that k train examples plus the longest scored prompt fit `context` tokens."""
    longest = max(len(tok(format_prompt(tok, it.prompt), add_special_tokens=False)["input_ids"]) for it in eval_items)
    longest_choice = max((len(tok(c, add_special_tokens=False)["input_ids"]) for it in eval_items
                          for c in (it.choices or [it.answer])), default=8)
    k = 0
    while k < min(cap, len(train)):
        shots = tuple((it.prompt, it.answer) for it in train[: k + 1])
        with_shots = len(tok(format_prompt(tok, "x", shots), add_special_tokens=False)["input_ids"])
        bare = len(tok(format_prompt(tok, "x"), add_special_tokens=False)["input_ids"])
        if longest + (with_shots - bare) + longest_choice > context:
            break
        k += 1
    return max(k, 1)


def majority_accuracy(train: list[Item], eval_items: list[Item]) -> float:
    """Accuracy of always answering the train pool's most common answer."""
    top, _ = Counter(it.answer for it in train).most_common(1)[0]
    return sum(it.answer == top for it in eval_items) / len(eval_items)


def b_cosine(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Cosine between two adapters' concatenated lora_B weights (the A matrices share their
    initialisation across the zoo, so including them would inflate every similarity)."""
    keys = sorted(k for k in a if "lora_B" in k)
    va = torch.cat([a[k].float().flatten() for k in keys])
    vb = torch.cat([b[k].float().flatten() for k in keys])
    return float(torch.nn.functional.cosine_similarity(va, vb, dim=0))
