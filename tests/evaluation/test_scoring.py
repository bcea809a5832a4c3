"""Scoring protocols on a tiny model: determinism and a hand-computed log-likelihood."""

import torch

from dnd.assets import load_base_model
from dnd.evaluation.scoring import MIN_NEW_TOKENS, choice_logprobs, evaluate_items, new_token_budget, wilson
from dnd.lora.prompt import format_prompt
from dnd.tasks.items import Item

ITEMS = [
    Item(prompt="Is fire hot? Answer yes or no.", answer="yes", choices=("yes", "no")),
    Item(prompt="Is ice hot? Answer yes or no.", answer="no", choices=("yes", "no")),
    Item(prompt="Sentence: great film.\nPositive or negative?", answer="positive", choices=("positive", "negative")),
]


def test_loglik_matches_hand_computation(tiny_model):
    model, tok = load_base_model(tiny_model)
    item = Item(prompt="Is fire hot? Answer yes or no.", answer="yes", choices=("yes", "definitely not"))
    scores = choice_logprobs(model, tok, [item], batch_size=1)[0]
    prompt = tok(format_prompt(tok, item.prompt), add_special_tokens=False)["input_ids"]
    for (lp, n), choice in zip(scores, item.choices):
        cids = tok(choice, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + cids])).logits[0]
        logp = torch.log_softmax(logits.float(), -1)
        hand = sum(logp[len(prompt) - 1 + i, c].item() for i, c in enumerate(cids))
        assert n == len(cids)
        assert abs(lp - hand) < 1e-4
    # batched with padding against the other items gives the same scores
    batched = choice_logprobs(model, tok, [item] + ITEMS, batch_size=8)[0]
    assert all(abs(a[0] - b[0]) < 1e-4 for a, b in zip(batched, scores))


def test_batched_loglik_agrees_with_shared_prompt(tiny_model):
    """The GPU strategy (left-padded rows, explicit positions) scores exactly like the CPU one."""
    model, tok = load_base_model(tiny_model)
    items = ITEMS + [Item(prompt="Pick the animal.", answer="a big brown dog", choices=("a big brown dog", "rock"))]
    shared = choice_logprobs(model, tok, items, share_prompt=True)
    for batch_size in (1, 3, 16):
        batched = choice_logprobs(model, tok, items, batch_size=batch_size, share_prompt=False)
        for row_a, row_b in zip(shared, batched):
            assert [n for _, n in row_a] == [n for _, n in row_b]
            assert all(abs(a - b) < 1e-4 for (a, _), (b, _) in zip(row_a, row_b))


def test_eval_is_deterministic(tiny_model):
    model, tok = load_base_model(tiny_model)
    for protocol in ("generate", "loglik"):
        a = evaluate_items(model, tok, ITEMS, protocol, batch_size=2)
        b = evaluate_items(model, tok, ITEMS, protocol, batch_size=3)
        assert a.predictions == b.predictions and a.accuracy == b.accuracy
        assert a.n == 3 and 0 <= a.ci95[0] <= a.accuracy <= a.ci95[1] <= 1


def test_wilson():
    lo, hi = wilson(50, 100)
    assert abs(lo - 0.4038) < 1e-3 and abs(hi - 0.5962) < 1e-3
    assert wilson(0, 0) == (0.0, 1.0)


def test_generation_budget_fits_the_longest_choice(tiny_model):
    _, tok = load_base_model(tiny_model)
    assert new_token_budget(tok, ITEMS) == MIN_NEW_TOKENS  # labels: the floor
    ending = "then she picks up the brush and slowly paints the whole fence a bright shade of red"
    long_item = Item(prompt="How does it end?", answer=ending, choices=(ending, "no"))
    assert new_token_budget(tok, ITEMS + [long_item]) == len(tok(ending, add_special_tokens=False)["input_ids"]) + 2


def test_common_prefix_and_packed_choices_agree_with_separate_passes(tiny_model):
    """The shared prefix (chat template + a common instruction) runs once and the choices are
    packed into one pass: the scores equal scoring each item alone without either trick."""
    from dnd.evaluation.scoring import common_prefix

    assert common_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert common_prefix([[1, 2], [1, 2]]) == 1  # each keeps a token of its own
    assert common_prefix([]) == 0
    model, tok = load_base_model(tiny_model)
    items = [Item(prompt=f"Answer the question. {q}", answer="yes", choices=("yes", "no way", "a big brown dog"))
             for q in ("Is fire hot?", "Is ice hot?", "Are dogs animals?")]
    ids = [tok(format_prompt(tok, it.prompt), add_special_tokens=False)["input_ids"] for it in items]
    assert common_prefix(ids) > 5  # the system turn and the instruction
    together = choice_logprobs(model, tok, items, share_prompt=True)
    alone = [choice_logprobs(model, tok, [it], share_prompt=True, share_prefix=False)[0] for it in items]
    rows = choice_logprobs(model, tok, items, share_prompt=False, batch_size=2)
    for a, b, c in zip(together, alone, rows):
        assert [n for _, n in a] == [n for _, n in b] == [n for _, n in c]
        assert all(abs(x - y) < 1e-4 and abs(x - z) < 1e-4 for (x, _), (y, _), (z, _) in zip(a, b, c))
