"""The fast bf16 training path against the fp32 reference, on a tiny random model."""

from __future__ import annotations

import random

import torch

from dnd.assets import load_base_model
from dnd.lora.attach import attach_lora, prepare_precision
from dnd.lora.settings import LoraSettings
from dnd.lora.train import (IGNORE, TrainSettings, answer_only_loss, collate, encode_example, length_grouped_batches,
                            train_lora)
from dnd.tasks.items import Item

ITEMS = [Item(prompt=f"Is {i} even? Answer yes or no.", answer="yes" if i % 2 == 0 else "no", choices=("yes", "no"))
         for i in range(24)] + [Item(prompt=f"Name the colour number {i}.", answer="dark blue green") for i in range(8)]


def _examples(tok):
    return [encode_example(tok, it, 64) for it in ITEMS[:6] + ITEMS[-2:]]


def test_answer_only_loss_equals_full_loss_in_fp32(tiny_model):
    model, tok = load_base_model(tiny_model)
    peft_model = attach_lora(model, LoraSettings(r=4, lora_alpha=8)).eval()
    examples = _examples(tok)
    full = peft_model(**collate(examples, tok.pad_token_id)).loss  # right-padded, logits everywhere
    fast = answer_only_loss(peft_model, collate(examples, tok.pad_token_id, left=True))
    # left padding with position ids and the head on the answer positions only: same loss
    assert torch.allclose(full, fast, atol=1e-5), (full, fast)


def test_bf16_loss_agrees_with_fp32_within_tolerance(tiny_model):
    model, tok = load_base_model(tiny_model)
    peft_model = attach_lora(model, LoraSettings(r=4, lora_alpha=8)).eval()
    batch = collate(_examples(tok), tok.pad_token_id, left=True)
    ref = float(answer_only_loss(peft_model, batch))
    prepare_precision(peft_model, "bf16")
    assert all(p.dtype == (torch.float32 if "lora_" in n else torch.bfloat16) for n, p in peft_model.named_parameters())
    fast = float(answer_only_loss(peft_model, batch))
    # stated tolerance: 2% relative (bf16 keeps 8 bits of mantissa in the frozen weights)
    assert abs(fast - ref) / ref < 0.02, (ref, fast)


def test_bf16_training_lowers_the_loss_like_fp32(tiny_model):
    results = {}
    for precision in ("fp32", "bf16"):
        model, tok = load_base_model(tiny_model)
        peft_model = attach_lora(model, LoraSettings(r=4, lora_alpha=8), seed=0)
        settings = TrainSettings(steps=30, batch_size=4, lr=5e-2, warmup_steps=2, max_length=64, precision=precision)
        results[precision] = train_lora(peft_model, tok, ITEMS, settings).losses
    # (a random 32-wide model's logits barely move: its loss stays near ln(vocab), so the
    # bar is "goes down", and the two paths must end within 2% of each other)
    for losses in results.values():
        assert sum(losses[-10:]) / 10 < sum(losses[:5]) / 5 - 0.05
    fp32, bf16 = (sum(results[p][-10:]) / 10 for p in ("fp32", "bf16"))
    assert abs(bf16 - fp32) / fp32 < 0.02, (fp32, bf16)


def test_length_grouped_batches_cover_an_epoch_with_similar_lengths():
    lengths = [random.Random(i).randint(5, 300) for i in range(200)]
    batches = length_grouped_batches(lengths, 8, random.Random(0), group=4)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(200))  # every example exactly once
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 100  # random batches of 8 would spread ~230 tokens


def test_left_collate_puts_answers_last_with_positions(tiny_model):
    _, tok = load_base_model(tiny_model)
    batch = collate(_examples(tok), tok.pad_token_id, left=True)
    labels, attn = batch["labels"], batch["attention_mask"]
    assert (labels[:, -1] != IGNORE).all()  # every row ends in its answer's last token
    assert (batch["position_ids"][attn.bool()].min() == 0) and (batch["position_ids"][:, -1] == attn.sum(-1) - 1).all()


def test_answer_token_losses_are_the_mean_loss_per_token(tiny_model):
    from dnd.lora.train import answer_token_losses

    model, tok = load_base_model(tiny_model)
    peft_model = attach_lora(model, LoraSettings(r=4, lora_alpha=8)).eval()
    batch = collate(_examples(tok), tok.pad_token_id, left=True)
    losses, mask = answer_token_losses(peft_model, batch)
    assert losses.shape == mask.shape and mask.sum() == (batch["labels"] != IGNORE).sum()
    assert (losses[~mask] == 0).all() and (losses[mask] > 0).all()
    assert torch.allclose(losses[mask].mean(), answer_only_loss(peft_model, batch), rtol=1e-6)


def test_auto_precision_is_bf16_only_where_the_cpu_computes_it(monkeypatch, capsys, tiny_model):
    import pytest

    from dnd.lora import attach

    for native, want in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(attach, "bf16_is_fast", lambda device, native=native: native)
        assert attach.resolve_precision("auto", "cpu") == want
        assert attach.resolve_precision("bf16", "cpu") == "bf16" and attach.resolve_precision("fp32") == "fp32"
    assert attach.resolve_precision("auto", "cuda") == "fp32"  # fp32 weights under bf16 autocast there
    with pytest.raises(ValueError, match="fp8"):
        attach.resolve_precision("fp8")
    # bf16 asked for on a CPU without it: honoured, with one warning per process
    attach._warn_slow_bf16.cache_clear()
    model, _ = load_base_model(tiny_model)
    for _ in range(2):
        prepare_precision(attach_lora(model, LoraSettings(r=4, lora_alpha=8)), "bf16")
    err = capsys.readouterr().err
    assert err.count("no native bf16") == 1 and "--precision fp32" in err
