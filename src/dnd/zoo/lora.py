"""LoRA fine-tuning of a causal LM on task items: prompt formatting, batching and the one
training loop that the zoo and the full-shot baseline share.

Loss is on the answer tokens only (plus the end-of-turn token, so a trained adapter learns
to stop). Batches are padded to their longest item, not to a fixed length.

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
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from dnd.tasks.items import Item

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
IGNORE = -100


@dataclass(frozen=True)
class LoraSettings:
    """The adapter shape; PEFT's names. Paper's small-model setting by default."""

    r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = ALL_LINEAR

    def to_peft(self):
        from peft import LoraConfig

        return LoraConfig(
            r=self.r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
            target_modules=list(self.target_modules), task_type="CAUSAL_LM", bias="none",
        )

    def to_json(self) -> dict:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "LoraSettings":
        return cls(**{**d, "target_modules": tuple(d["target_modules"])})


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


def format_prompt(tokenizer, prompt: str, shots: tuple[tuple[str, str], ...] = ()) -> str:
    """The text the model sees before its answer: the chat template's user turn and the
    start of the assistant turn (plain text for tokenizers without a chat template).
    `shots` are solved (prompt, answer) examples placed before it as earlier turns (ICL)."""
    if getattr(tokenizer, "chat_template", None):
        messages = []
        for p, a in shots:
            messages += [{"role": "user", "content": p}, {"role": "assistant", "content": a}]
        messages.append({"role": "user", "content": prompt})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "".join(f"{p}\n{a}\n\n" for p, a in shots) + prompt + "\n"


def end_of_turn_id(tokenizer) -> int:
    """Token the model emits after an answer: <|im_end|> for ChatML models, else EOS."""
    tid = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid is not None:
        return tid
    return tokenizer.eos_token_id


def encode_prompt(tokenizer, prompt: str, max_length: int, reserve: int = 0, keep_head: int = 32) -> list[int]:
    """Token ids of the formatted prompt, cut in the middle if longer than max_length-reserve.

    The head (chat header) and the tail (question, answer instruction, assistant turn start)
    matter most, so a long passage loses its middle.
    """
    ids = tokenizer(format_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    room = max(max_length - reserve, keep_head + 8)
    if len(ids) > room:
        ids = ids[:keep_head] + ids[len(ids) - (room - keep_head):]
    return ids


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


def attach_lora(model, lora: LoraSettings, seed: int = 0):
    """Wrap a base model in a fresh PEFT LoRA (A random with `seed`, B zero)."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    return get_peft_model(model, lora.to_peft())


def lora_state_dict(peft_model) -> dict[str, torch.Tensor]:
    """The adapter's weights under PEFT's saved names (as in adapter_model.safetensors)."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().float().cpu().clone() for k, v in get_peft_model_state_dict(peft_model).items()}


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier at 0-based `step`: linear warm-up, then cosine decay to zero."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * t))


def _autocast(device: str):
    """bf16 autocast on CUDA (weights stay fp32); plain fp32 on CPU."""
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


PRECISIONS = ("fp32", "bf16")


def prepare_precision(peft_model, precision: str) -> None:
    """Cast the frozen base weights for `precision`; LoRA weights stay fp32 (the optimizer
    updates them in full precision; PEFT casts activations to their dtype and back)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {PRECISIONS}")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    for name, param in peft_model.named_parameters():
        param.data = param.data.float() if "lora_" in name else param.data.to(dtype)
    for buf_name, buf in peft_model.named_buffers():
        if buf.is_floating_point() and "inv_freq" not in buf_name:
            buf.data = buf.data.to(dtype)


def answer_only_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token loss over the answer tokens of a LEFT-padded batch, running the LM
    head only on the positions that predict them (the same value as the model's own loss)."""
    labels = batch["labels"]  # (B, W); answers are the last tokens of every row
    answer_len = int((labels != IGNORE).sum(-1).max())
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                position_ids=batch["position_ids"], logits_to_keep=answer_len + 1)
    logits = out.logits[:, :-1].float()  # (B, A, V): position W-A-1+t predicts token W-A+t
    targets = labels[:, -answer_len:]  # (B, A)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=IGNORE)


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
        with _autocast(settings.device):
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
