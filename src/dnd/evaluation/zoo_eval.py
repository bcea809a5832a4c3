"""`dnd zoo --eval-n N`: on which tasks a LoRA matters. Each task's just-trained LoRA and the
base model are scored on the first N items of the task's eval pool, and the figures go
into the task's zoo manifest entry (dnd.zoo.build calls the scorer after training).

Log-likelihood of the choices where every item has choices, else greedy generation. Always
scored in fp32: bf16 scoring moved accuracy by up to 2 points on 100 items
(benchmarks/bench_scoring_precision.py, docs/benchmarks.md).
"""

from __future__ import annotations

import time

import torch

from dnd.evaluation.scoring import evaluate_items
from dnd.lora.swap import AdapterModel
from dnd.tasks.registry import load_pools
from dnd.zoo.build import Scorer, ZooSettings


def own_lora_scorer(settings: ZooSettings, n: int) -> Scorer:
    """A scorer for build_zoo: (task, LoRA state dict) -> accuracy of the base model and of
    the LoRA on the task's first `n` eval-pool items."""

    def score(task: str, state: dict[str, torch.Tensor]) -> dict:
        items = load_pools(task)[1][:n]
        protocol = "loglik" if all(it.choices for it in items) else "generate"
        start = time.perf_counter()
        runner = AdapterModel(settings.base_model, settings.lora, settings.train.device)  # a fresh fp32 model
        base = evaluate_items(runner.use(None).model, runner.tokenizer, items, protocol)
        lora = evaluate_items(runner.use(state).model, runner.tokenizer, items, protocol)
        return {"protocol": protocol, "n": len(items), "base": base.accuracy, "lora": lora.accuracy,
                "precision": "fp32", "wall_time_s": round(time.perf_counter() - start, 2)}

    return score
