"""Label-free calibration of choice scores from unlabeled prompts of the task.

A small model's errors on a classification task are often a bias over the answer set (it
says "no" to everything). Given a batch of *unlabeled* prompts of the task, the bias can be
estimated and divided out, with no labels and no training:

    batch   Batch calibration (Zhou et al., "Batch Calibration", ICLR 2024): the prior is the
            model's mean choice distribution over the unlabeled prompts,
                score(c | x) = log p(c | x) - log mean_x' p(c | x')
    domain  Domain-context calibration (Fei et al., "Mitigating Label Biases for In-context
            Learning", ACL 2023): the prior is the mean choice distribution over
            content-free texts of random words drawn from the unlabeled prompts

`p(c | x)` is the softmax over the length-normalized choice log-likelihoods (the loglik
protocol's `acc_norm` scores). Calibration applies to tasks whose items share one label set;
an item whose choices differ from the calibration's is scored as before.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, replace

import torch

from dnd.evaluation.scoring import EvalResult, choice_logprobs, wilson
from dnd.tasks.items import Item

RULES = ("batch", "domain")
DOMAIN_SAMPLES = 20  # content-free texts per domain-context estimate (the paper's 20)


@dataclass(frozen=True)
class Calibration:
    """A label prior over `choices` (same order), estimated from `n_prompts` unlabeled texts."""

    rule: str
    choices: tuple[str, ...]
    prior: tuple[float, ...]  # mean p(c | x') over the calibration texts; sums to 1
    n_prompts: int

    def to_json(self) -> dict:
        d = asdict(self)
        d["choices"], d["prior"] = list(self.choices), list(self.prior)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Calibration":
        return cls(rule=d["rule"], choices=tuple(d["choices"]), prior=tuple(d["prior"]), n_prompts=d["n_prompts"])

    def applies_to(self, choices) -> bool:
        """True where `choices` is this calibration's label set (in any order)."""
        return choices is not None and sorted(choices) == sorted(self.choices)

    def adjust(self, choices, norm_scores: list[float]) -> list[float]:
        """Calibrated scores `log p(c | x) - log prior(c)`, in the order of `choices`; the
        scores unchanged where `choices` is another label set."""
        if not self.applies_to(choices):
            return list(norm_scores)
        prior = dict(zip(self.choices, self.prior))
        logp = torch.log_softmax(torch.tensor(norm_scores, dtype=torch.float64), dim=0)
        return [float(lp) - math.log(max(prior[c], 1e-12)) for lp, c in zip(logp, choices)]


def label_set(items: list[Item]) -> tuple[str, ...] | None:
    """The one label set every item shares (first item's order), or None where the options
    vary per item (or an item has none)."""
    if not items or any(not it.choices for it in items):
        return None
    first = sorted(items[0].choices)
    if len(set(first)) < 2 or any(sorted(it.choices) != first for it in items):
        return None
    return tuple(items[0].choices)


def norm_scores(scores: list[tuple[float, int]]) -> list[float]:
    """(sum of log-probs, n tokens) per choice -> length-normalized log-likelihoods."""
    return [lp / max(n, 1) for lp, n in scores]


def domain_texts(prompts: list[str], n: int = DOMAIN_SAMPLES, seed: int = 0) -> list[str]:
    """Content-free in-domain texts: `n` strings of random words drawn from `prompts`, each as
    long (in words) as the prompts' mean."""
    words = [w for p in prompts for w in p.split()]
    if not words:
        return []
    rng = random.Random(seed)
    length = max(1, round(len(words) / len(prompts)))
    return [" ".join(rng.choice(words) for _ in range(length)) for _ in range(n)]


def prior_from_scores(rule: str, choices: tuple[str, ...], scores: list[list[tuple[float, int]]]) -> Calibration:
    """The calibration whose prior is the mean choice distribution of `scores` (one row per
    calibration text, choices in `choices` order)."""
    probs = torch.stack([torch.softmax(torch.tensor(norm_scores(row), dtype=torch.float64), dim=0)
                         for row in scores])  # (N, C)
    return Calibration(rule, tuple(choices), tuple(float(p) for p in probs.mean(0)), len(scores))


def estimate(model, tok, prompts: list[str], choices: tuple[str, ...], rule: str = "batch", seed: int = 0,
             max_length: int = 2048, progress: str | None = None) -> Calibration:
    """Estimate the label prior of `model` over `choices` from unlabeled `prompts` under `rule`.
    Only the prompts are read: no label, no scored item."""
    if rule not in RULES:
        raise ValueError(f"calibration rule {rule!r}: expected one of {RULES}")
    texts = domain_texts(prompts, seed=seed) if rule == "domain" else list(prompts)
    if not texts:
        raise ValueError("calibration needs at least one non-empty prompt")
    items = [Item(prompt=t, choices=tuple(choices)) for t in texts]
    return prior_from_scores(rule, choices, choice_logprobs(model, tok, items, max_length=max_length,
                                                            progress=progress))


def calibrated_choice(cal: Calibration | None, choices, norm: list[float]) -> int:
    """Index of the chosen option: the highest calibrated score (the plain `acc_norm` pick
    without a calibration or for another label set)."""
    adjusted = cal.adjust(choices, norm) if cal is not None else norm
    return max(range(len(adjusted)), key=adjusted.__getitem__)


def probabilities(cal: Calibration | None, choices, norm: list[float]) -> list[float]:
    """Per-choice probabilities: softmax of the (calibrated) scores, summing to 1."""
    adjusted = cal.adjust(choices, norm) if cal is not None else norm
    return [float(p) for p in torch.softmax(torch.tensor(adjusted, dtype=torch.float64), dim=0)]


def calibrate_result(items: list[Item], result: EvalResult, cal: Calibration) -> EvalResult:
    """A loglik `result` re-scored under `cal`: each prediction's pick is the calibrated one
    (items of another label set keep theirs); labels are read only to count correct picks."""
    preds = []
    for it, p in zip(items, result.predictions):
        best = calibrated_choice(cal, it.choices, p["norm"])
        preds.append({**p, "prediction": it.choices[best], "correct": it.choices[best] == it.answer,
                      "calibrated": cal.applies_to(it.choices)})
    correct = sum(p["correct"] for p in preds)
    n = len(items)
    return replace(result, correct=correct, accuracy=correct / max(n, 1), ci95=wilson(correct, n), predictions=preds)
