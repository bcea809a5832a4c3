"""The two scoring protocols, batched across items.

    generate  greedy decoding of a few tokens, stopped at the end-of-turn token; the
              extracted answer must equal the label (exact match after normalization)
    loglik    lm-evaluation-harness style: the choice with the highest log-likelihood
              given the prompt; reported raw (`acc`) and length-normalized per token
              (`acc_norm`, the headline: multi-token choices of different lengths)
Both see the prompt through the same chat formatting as training (dnd.zoo.lora).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from dnd.evaluation.answers import extract_answer, normalize
from dnd.tasks.items import Item
from dnd.zoo.lora import end_of_turn_id, format_prompt

PROTOCOLS = ("generate", "loglik")


@dataclass
class EvalResult:
    protocol: str
    n: int
    correct: int
    accuracy: float
    ci95: tuple[float, float]
    acc_raw: float | None = None  # loglik without length normalization
    predictions: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        d = {"protocol": self.protocol, "n": self.n, "accuracy": self.accuracy, "ci95": list(self.ci95)}
        if self.acc_raw is not None:
            d["acc_raw"] = self.acc_raw
        return d


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _prompt_ids(tok, item: Item, shots, max_length: int) -> list[int]:
    ids = tok(format_prompt(tok, item.prompt, shots), add_special_tokens=False)["input_ids"]
    return ids[-max_length:]  # over-long prompts (many-shot ICL) lose their oldest turns


@torch.no_grad()
def generate_answers(model, tok, items: list[Item], shots=(), batch_size: int = 16,
                     max_new_tokens: int = 8, max_length: int = 2048, progress: str | None = None) -> list[str]:
    """Greedy continuations, left-padded batches, stopped at end-of-turn."""
    device = next(model.parameters()).device
    stop = end_of_turn_id(tok)
    order = sorted(range(len(items)), key=lambda i: len(items[i].prompt))  # similar lengths per batch
    texts: dict[int, str] = {}
    for start in tqdm(range(0, len(order), batch_size), desc=progress or "generate", leave=False,
                      disable=progress is None):
        idx = order[start : start + batch_size]
        seqs = [_prompt_ids(tok, items[i], shots, max_length - max_new_tokens) for i in idx]
        width = max(map(len, seqs))
        input_ids = torch.full((len(seqs), width), tok.pad_token_id, dtype=torch.long)
        attention = torch.zeros_like(input_ids)
        for j, s in enumerate(seqs):
            input_ids[j, width - len(s):] = torch.tensor(s)
            attention[j, width - len(s):] = 1
        out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                             max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop,
                             pad_token_id=tok.pad_token_id)
        for j, i in enumerate(idx):
            texts[i] = tok.decode(out[j, width:], skip_special_tokens=True)
    return [texts[i] for i in range(len(items))]


@torch.no_grad()
def choice_logprobs(model, tok, items: list[Item], shots=(), batch_size: int = 16,
                    max_length: int = 2048, progress: str | None = None) -> list[list[tuple[float, int]]]:
    """For every item and choice: (sum of log-probs of the choice tokens, number of tokens).

    The prompt is run once per item and its key/value cache shared by all of the item's
    choices (a 4-choice item costs about one prompt, not four); `batch_size` is unused
    here and kept for a uniform signature.
    """
    device = next(model.parameters()).device
    scores = []
    for it in tqdm(items, desc=progress or "loglik", leave=False, disable=progress is None):
        cids = [tok(c, add_special_tokens=False)["input_ids"] for c in it.choices]
        longest = max(map(len, cids))
        pids = _prompt_ids(tok, it, shots, max_length - longest)
        out = model(input_ids=torch.tensor([pids], device=device), use_cache=True)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # predicts each choice's first token
        cache = out.past_key_values
        n = len(cids)
        cache.batch_repeat_interleave(n)
        tail = torch.full((n, longest), tok.pad_token_id, dtype=torch.long)
        attention = torch.zeros((n, len(pids) + longest), dtype=torch.long)
        attention[:, : len(pids)] = 1
        for j, c in enumerate(cids):
            tail[j, : len(c)] = torch.tensor(c)
            attention[j, len(pids) : len(pids) + len(c)] = 1
        logits = model(input_ids=tail.to(device), attention_mask=attention.to(device), past_key_values=cache).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # (n, longest, V): position i predicts token i + 1
        row = []
        for j, c in enumerate(cids):
            lp = first[c[0]] + sum(logprobs[j, i - 1, c[i]] for i in range(1, len(c)))
            row.append((float(lp), len(c)))
        scores.append(row)
    return scores


def evaluate_items(model, tok, items: list[Item], protocol: str = "loglik", shots=(), batch_size: int = 16,
                   max_length: int = 2048, progress: str | None = None) -> EvalResult:
    """Accuracy of `model` on labeled `items` under `protocol`, with per-item predictions."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}: expected one of {PROTOCOLS}")
    preds: list[dict] = []
    raw_correct = None
    if protocol == "generate":
        outputs = generate_answers(model, tok, items, shots, batch_size, max_length=max_length, progress=progress)
        for it, out in zip(items, outputs):
            pred = extract_answer(out, it.choices)
            preds.append({"output": out, "prediction": pred, "correct": pred == normalize(it.answer)})
    else:
        scores = choice_logprobs(model, tok, items, shots, batch_size, max_length, progress)
        raw_correct = 0
        for it, sc in zip(items, scores):
            norm = [lp / max(n, 1) for lp, n in sc]
            best = max(range(len(sc)), key=lambda c: norm[c])
            best_raw = max(range(len(sc)), key=lambda c: sc[c][0])
            raw_correct += it.choices[best_raw] == it.answer
            preds.append({"prediction": it.choices[best], "correct": it.choices[best] == it.answer,
                          "logprobs": [round(lp, 4) for lp, _ in sc]})
    correct = sum(p["correct"] for p in preds)
    n = len(items)
    return EvalResult(protocol=protocol, n=n, correct=correct, accuracy=correct / max(n, 1), ci95=wilson(correct, n),
                      acc_raw=None if raw_correct is None else raw_correct / max(n, 1), predictions=preds)
