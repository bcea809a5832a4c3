"""`dnd zoo --eval-n N`: the zoo hands each just-trained LoRA to the scorer, and the scorer's
figures (base model and LoRA on the task's eval pool) land in the task's manifest entry."""

from __future__ import annotations

from dataclasses import replace

import torch

from dnd.evaluation.zoo_eval import own_lora_scorer
from dnd.lora.settings import LoraSettings
from dnd.lora.train import TrainSettings
from dnd.zoo.build import ZooSettings, build_zoo


def test_the_scorer_sees_the_trained_lora_and_its_figures_are_kept(tiny_model, tmp_path):
    settings = ZooSettings(tasks=("sst2",), out=str(tmp_path / "zoo"), base_model=tiny_model, keep=1,
                           lora=LoraSettings(r=4, lora_alpha=8),
                           train=TrainSettings(steps=2, batch_size=2, lr=1e-2, warmup_steps=1, max_length=64))
    real, seen = own_lora_scorer(settings, 4), []

    def score(task: str, state: dict[str, torch.Tensor]) -> dict:
        seen.append((task, state))
        return real(task, state)

    entry = build_zoo(settings, score)["tasks"]["sst2"]
    (task, state), = seen
    assert task == "sst2" and any("lora_B" in k and v.abs().sum() > 0 for k, v in state.items())  # trained
    ev = entry["eval"]
    assert ev["protocol"] == "loglik" and ev["n"] == 4 and ev["precision"] == "fp32"
    assert 0 <= ev["base"] <= 1 and 0 <= ev["lora"] <= 1
    assert "eval" not in build_zoo(replace(settings, out=str(tmp_path / "z2")))["tasks"]["sst2"]
