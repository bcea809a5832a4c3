"""The two scoring protocols, batched across items.

    generate  greedy decoding, stopped at the end-of-turn token, with room to write the
              longest choice out; the extracted answer must equal the label (exact
              match after normalization)
    loglik    lm-evaluation-harness style: the choice with the highest log-likelihood
              given the prompt; reported raw (`acc`) and length-normalized per token
              (`acc_norm`, the headline: multi-token choices of different lengths)
Both see the prompt through the same chat formatting as training (dnd.lora.prompt).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from dnd.evaluation.answers import extract_answer, normalize
from dnd.lora.prompt import end_of_turn_id, format_prompt
from dnd.tasks.items import Item

PROTOCOLS = ("generate", "loglik")
# Names under which results of a protocol are cached; a name changes with the protocol's
# rule. generate2: the decoding budget fits the longest choice (generate: 8 new tokens).
CACHE_NAMES = {"generate": "generate2", "loglik": "loglik"}


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


def _left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> (input_ids, attention_mask), both (B, longest), padded on the left."""
    width = max(map(len, seqs))
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for j, s in enumerate(seqs):
        input_ids[j, width - len(s):] = torch.tensor(s)
        attention[j, width - len(s):] = 1
    return input_ids, attention


def _prompt_ids(tok, item: Item, shots, max_length: int) -> list[int]:
    ids = tok(format_prompt(tok, item.prompt, shots), add_special_tokens=False)["input_ids"]
    return ids[-max_length:]  # over-long prompts (many-shot ICL) lose their oldest turns


MIN_NEW_TOKENS = 8  # enough for a label or a number


def new_token_budget(tok, items: list[Item]) -> int:
    """Tokens to decode for `items`: room for the longest choice written out in full (an
    option-text answer cut short can never match), and at least MIN_NEW_TOKENS."""
    longest = max((len(tok(c, add_special_tokens=False)["input_ids"]) for it in items for c in it.choices or ()),
                  default=0)
    return max(MIN_NEW_TOKENS, longest + 2)


@torch.no_grad()
def generate_answers(model, tok, items: list[Item], shots=(), batch_size: int = 16,
                     max_new_tokens: int | None = None, max_length: int = 2048,
                     progress: str | None = None) -> list[str]:
    """Greedy continuations, left-padded batches, stopped at end-of-turn; `max_new_tokens`
    None sizes the budget to the longest choice (`new_token_budget`)."""
    device = next(model.parameters()).device
    stop = end_of_turn_id(tok)
    budget = max_new_tokens or new_token_budget(tok, items)  # one budget for all: batching cannot change answers
    order = sorted(range(len(items)), key=lambda i: len(items[i].prompt))  # similar lengths per batch
    texts: dict[int, str] = {}
    for start in tqdm(range(0, len(order), batch_size), desc=progress or "generate", leave=False,
                      disable=progress is None):
        idx = order[start : start + batch_size]
        input_ids, attention = _left_pad([_prompt_ids(tok, items[i], shots, max_length - budget) for i in idx],
                                         tok.pad_token_id)
        width = input_ids.shape[1]
        out = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                             max_new_tokens=budget, do_sample=False, eos_token_id=stop,
                             pad_token_id=tok.pad_token_id)
        for j, i in enumerate(idx):
            texts[i] = tok.decode(out[j, width:], skip_special_tokens=True)
    return [texts[i] for i in range(len(items))]


def choice_logprobs(model, tok, items: list[Item], shots=(), batch_size: int = 16, max_length: int = 2048,
                    progress: str | None = None, share_prompt: bool | None = None,
                    share_prefix: bool = True) -> list[list[tuple[float, int]]]:
    """For every item and choice: (sum of log-probs of the choice tokens, number of tokens).

    Two strategies give the same numbers (tests check it) at different costs:
      share_prompt=True   one forward pass per item scores all of its choices (packed side
                          by side after the prompt, each seeing only the prompt and itself),
                          and the token prefix every item shares runs once (`share_prefix`);
                          best where compute is the limit (CPU)
      share_prompt=False  every (prompt + choice) is one row of a left-padded batch of up
                          to `batch_size` rows; best where kernel launches are (GPU)
    None picks by the model's device.
    """
    if share_prompt is None:
        share_prompt = next(model.parameters()).device.type == "cpu"
    if share_prompt:
        return _logprobs_shared_prompt(model, tok, items, shots, max_length, progress, share_prefix)
    return _logprobs_batched(model, tok, items, shots, batch_size, max_length, progress)


def _requests(tok, items: list[Item], shots, max_length: int) -> list[tuple[list[int], list[list[int]]]]:
    """(prompt ids, [choice ids]) per item; the prompt is cut so the longest choice fits."""
    out = []
    for it in items:
        cids = [tok(c, add_special_tokens=False)["input_ids"] for c in it.choices]
        out.append((_prompt_ids(tok, it, shots, max_length - max(map(len, cids))), cids))
    return out


def common_prefix(seqs: list[list[int]]) -> int:
    """Length of the longest token prefix that every sequence shares, leaving each at least
    one token of its own (whose logits predict the first choice token)."""
    if not seqs:
        return 0
    n, first = 0, seqs[0]
    limit = min(map(len, seqs)) - 1
    while n < limit and all(s[n] == first[n] for s in seqs):
        n += 1
    return n


@torch.no_grad()
def _logprobs_shared_prompt(model, tok, items, shots, max_length, progress, share_prefix=True):
    device = next(model.parameters()).device
    requests = _requests(tok, items, shots, max_length)
    # the chat template's system turn, the task's instruction and any ICL shots open every
    # prompt alike (30% of the tokens on the unseen suite): they run once, and each item
    # starts from a copy of their key/value cache
    shared = common_prefix([pids for pids, _ in requests]) if share_prefix else 0
    prefix_cache = None
    if shared:
        prefix_cache = model(input_ids=torch.tensor([requests[0][0][:shared]], device=device),
                             use_cache=True, logits_to_keep=1).past_key_values
    dtype = model.get_input_embeddings().weight.dtype
    scores = []
    for pids, cids in tqdm(requests, desc=progress or "loglik", leave=False, disable=progress is None):
        own = pids[shared:]
        out = model(input_ids=torch.tensor([own + [t for c in cids for t in c[:-1]]], device=device),
                    **_packed_choices(len(own), [len(c) for c in cids], shared, dtype, device),
                    past_key_values=copy.deepcopy(prefix_cache) if prefix_cache is not None else None,
                    use_cache=prefix_cache is not None, logits_to_keep=1 + sum(len(c) - 1 for c in cids))
        logprobs = torch.log_softmax(out.logits[0].float(), dim=-1)  # (1 + choice tokens, V)
        row, at = [], 1  # kept position 0: the prompt's last token, which predicts every first token
        for c in cids:
            lp = logprobs[0, c[0]] + sum(logprobs[at + i, c[i + 1]] for i in range(len(c) - 1))
            row.append((float(lp), len(c)))
            at += len(c) - 1
        scores.append(row)
    return scores


def _packed_choices(n_own: int, lengths: list[int], past: int, dtype, device) -> dict[str, torch.Tensor]:
    """Attention mask and positions to score every choice in ONE forward pass: the sequence is
    the item's own prompt tokens, then each choice's tokens but its last, side by side. Each
    choice block sees the cached prefix, the whole prompt and its own earlier tokens (never
    another choice), and its positions continue from the prompt's end, as if it were alone."""
    blocks = [n - 1 for n in lengths]
    q = n_own + sum(blocks)
    allowed = torch.zeros((q, past + q), dtype=torch.bool)
    allowed[:, :past] = True
    allowed[:, past : past + n_own] = torch.ones(q, n_own, dtype=torch.bool).tril()  # causal over the prompt
    positions = list(range(past, past + n_own))
    start = n_own
    for b in blocks:
        allowed[start : start + b, past : past + n_own] = True
        allowed[start : start + b, past + start : past + start + b] = torch.ones(b, b, dtype=torch.bool).tril()
        positions += range(past + n_own, past + n_own + b)
        start += b
    mask = torch.zeros((1, 1, q, past + q), dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return {"attention_mask": mask.to(device), "position_ids": torch.tensor([positions], device=device)}


@torch.no_grad()
def _logprobs_batched(model, tok, items, shots, batch_size, max_length, progress):
    device = next(model.parameters()).device
    rows = [(i, pids + c, len(c)) for i, (pids, cids) in enumerate(_requests(tok, items, shots, max_length))
            for c in cids]  # (item, prompt + choice ids, choice length)
    order = sorted(range(len(rows)), key=lambda r: len(rows[r][1]))  # similar lengths per batch
    found: dict[int, tuple[float, int]] = {}  # row -> (log-prob, choice length)
    for start in tqdm(range(0, len(order), batch_size), desc=progress or "loglik", leave=False,
                      disable=progress is None):
        batch = [rows[r] for r in order[start : start + batch_size]]
        keep = max(n for _, _, n in batch) + 1  # only the last positions are scored
        input_ids, attention = _left_pad([seq for _, seq, _ in batch], tok.pad_token_id)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # absolute-position models need this; RoPE does not
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                       position_ids=positions.to(device), logits_to_keep=keep).logits  # (B, keep, V)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        for b, (_, seq, n) in enumerate(batch):
            # kept index t is the (keep - t)-th position from the end; it predicts the token after it
            target = torch.tensor(seq[-n:], device=device)
            found[order[start + b]] = (float(logprobs[b, keep - 1 - n : keep - 1].gather(-1, target[:, None]).sum()), n)
    scores: list[list[tuple[float, int]]] = [[] for _ in items]
    for r, (i, _, _) in enumerate(rows):  # rows are in item, then choice order
        scores[i].append(found[r])
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
                          "logprobs": [round(lp, 4) for lp, _ in sc], "norm": [round(x, 5) for x in norm]})
    correct = sum(p["correct"] for p in preds)
    n = len(items)
    return EvalResult(protocol=protocol, n=n, correct=correct, accuracy=correct / max(n, 1), ci95=wilson(correct, n),
                      acc_raw=None if raw_correct is None else raw_correct / max(n, 1), predictions=preds)
