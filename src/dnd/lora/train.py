"""LoRA fine-tuning of a causal LM on task items: batching and the one training loop that
the zoo (dnd.zoo.build, dnd.zoo.multitask) and the full-shot baseline (dnd.evaluation.unseen)
share; the generator's functional objective reuses its batches and loss.

Loss is on the answer tokens only (plus the end-of-turn token, so a trained adapter learns
to stop). Batches are padded to their longest item, not to a fixed length. Prompts are
formatted by dnd.lora.prompt, as scoring and serving format them.

Two numeric paths share the loop (benchmarks/bench_lora_precision.py compares them):
    fp32  the reference: fp32 weights, right-padded batches, logits at every position
    bf16  the fast CPU path: the frozen base weights in bf16 (AMX matmuls) with fp32 LoRA
          weights and optimizer; batches left-padded so that every row's answer sits at the
          end and the LM head runs only on the last positions (`logits_to_keep`); batches
          drawn from groups of similar length (less padding)
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from dnd.lora.attach import prepare_precision
from dnd.lora.prompt import encode_prompt, end_of_turn_id
from dnd.tasks.items import Item

IGNORE = -100


@dataclass(frozen=True)
class TrainSettings:
    """One LoRA training run. `lr` decays with a cosine after `warmup_steps` linear warm-up."""

    steps: int = 150
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 10
    max_length: int = 256
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"  # "fp32" or "bf16" (see the module docstring)


def encode_example(tokenizer, item: Item, max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for one labeled item; labels mask the prompt with IGNORE."""
    answer = tokenizer(item.answer, add_special_tokens=False)["input_ids"] + [end_of_turn_id(tokenizer)]
    answer = answer[: max_length // 2]
    prompt = encode_prompt(tokenizer, item.prompt, max_length, reserve=len(answer))
    return prompt + answer, [IGNORE] * len(prompt) + answer


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int, left: bool = False) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest example, on the right (default) or on the left.

    Left-padded batches also carry `position_ids` (counting from each row's first real
    token), so every row sees the same positions as it would alone."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(examples):
        span = slice(width - len(ids), width) if left else slice(0, len(ids))
        input_ids[i, span] = torch.tensor(ids)
        labels[i, span] = torch.tensor(lab)
        attention[i, span] = 1
    batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention}
    if left:
        batch["position_ids"] = (attention.cumsum(-1) - 1).clamp(min=0)
    return batch


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier at 0-based `step`: linear warm-up, then cosine decay to zero."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * t))


def autocast(device: str):
    """bf16 autocast on CUDA (weights stay fp32); plain fp32 on CPU."""
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _contiguous_input(module, args):
    return (args[0].contiguous(), *args[1:])


def _answer_logits(model, batch: dict[str, torch.Tensor],
                   inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (B, A, V) fp32, targets (B, A)) of the last A positions of a LEFT-padded batch,
    A the longest answer: the LM head runs only on the positions that predict answer tokens."""
    labels = batch["labels"]  # (B, W); answers are the last tokens of every row
    answer_len = int((labels != IGNORE).sum(-1).max())
    inputs = {"input_ids": batch["input_ids"]} if inputs_embeds is None else {"inputs_embeds": inputs_embeds}
    # The model slices the kept positions out of its hidden states; on a strided (B, A, D)
    # slice the LM head's matmul falls back to a batched one that copies the (V, D) weight
    # per row, forward and backward: 3x the time of a whole bf16 step of the functional
    # objective on the CPU (benchmarks/bench_functional_step.py). A contiguous input avoids it.
    hook = model.get_output_embeddings().register_forward_pre_hook(_contiguous_input)
    try:
        out = model(**inputs, attention_mask=batch["attention_mask"],
                    position_ids=batch["position_ids"], logits_to_keep=answer_len + 1)
    finally:
        hook.remove()
    logits = out.logits[:, :-1].float()  # (B, A, V): position W-A-1+t predicts token W-A+t
    return logits, labels[:, -answer_len:]


def answer_only_loss(model, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
    """Mean next-token loss over the answer tokens of a LEFT-padded batch, running the LM
    head only on the positions that predict them (the same value as the model's own loss).
    `inputs_embeds` (B, W, D): the model's input states instead of batch["input_ids"]."""
    logits, targets = _answer_logits(model, batch, inputs_embeds)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=IGNORE)


def answer_token_losses(model, batch: dict[str, torch.Tensor],
                        inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """answer_only_loss per token: (losses (B, A) fp32, 0 off the answers; mask (B, A) bool,
    the answer tokens), so that rows can be grouped (objectives/row_lora.py)."""
    logits, targets = _answer_logits(model, batch, inputs_embeds)
    losses = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                               ignore_index=IGNORE, reduction="none")
    return losses.view(targets.shape), targets != IGNORE


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random, group: int = 16) -> list[list[int]]:
    """One epoch of batches: shuffle, cut into groups of `group` batches, sort each group by
    length and split it into batches, then shuffle the batches (similar lengths per batch,
    random order across the epoch)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    span = batch_size * group
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


@dataclass
class TrainResult:
    """What a training run did: the loss at every step, its wall time, the tokens it saw."""

    losses: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0
    tokens: int = 0


def train_lora(
    peft_model,
    tokenizer,
    items: list[Item],
    settings: TrainSettings,
    on_step: Callable[[int, float], None] | None = None,
    progress: str | None = None,
) -> TrainResult:
    """AdamW on the answer tokens of `items`, sampling batches with `settings.seed`.

    `on_step(step, loss)` runs after each optimizer step (1-based), e.g. to save a checkpoint.
    """
    from tqdm.auto import tqdm

    rng = random.Random(settings.seed)
    examples = [encode_example(tokenizer, it, settings.max_length) for it in items if it.answer is not None]
    if not examples:
        raise ValueError("no labeled items to train on")
    fast = settings.precision == "bf16"
    prepare_precision(peft_model, settings.precision)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)

    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: warmup_cosine(step, settings.warmup_steps, settings.steps))
    peft_model.train()
    result, order, start = TrainResult(), [], time.perf_counter()
    bar = tqdm(range(settings.steps), desc=progress or "lora", leave=False, disable=progress is None)
    lengths = [len(ids) for ids, _ in examples]
    for step in bar:
        if fast:  # batches of similar length, drawn epoch by epoch
            if not order:
                order = length_grouped_batches(lengths, settings.batch_size, rng)
            batch_idx, order = order[0], order[1:]
        else:  # epoch-style shuffling without replacement
            if len(order) < settings.batch_size:
                extra = list(range(len(examples)))
                rng.shuffle(extra)
                order += extra
            batch_idx, order = order[: settings.batch_size], order[settings.batch_size :]
        batch = collate([examples[i] for i in batch_idx], tokenizer.pad_token_id, left=fast)
        batch = {k: v.to(settings.device) for k, v in batch.items()}
        with autocast(settings.device):
            loss = answer_only_loss(peft_model, batch) if fast else peft_model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        value = loss.item()
        result.losses.append(value)
        result.tokens += int(batch["attention_mask"].sum())
        bar.set_postfix(loss=f"{value:.3f}")
        if on_step is not None:
            on_step(step + 1, value)
    result.wall_time_s = time.perf_counter() - start
    peft_model.eval()
    return result
