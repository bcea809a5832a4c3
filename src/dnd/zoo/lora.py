"""LoRA fine-tuning of a causal LM on task items: prompt formatting, batching and the one
training loop that the zoo and the full-shot baseline share.

Loss is on the answer tokens only (plus the end-of-turn token, so a trained adapter learns
to stop). Batches are padded to their longest item, not to a fixed length.
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


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch to its longest example."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(examples):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        attention[i, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


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
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)

    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: warmup_cosine(step, settings.warmup_steps, settings.steps))
    peft_model.train()
    result, order, start = TrainResult(), [], time.perf_counter()
    bar = tqdm(range(settings.steps), desc=progress or "lora", leave=False, disable=progress is None)
    for step in bar:
        if len(order) < settings.batch_size:  # epoch-style shuffling without replacement
            extra = list(range(len(examples)))
            rng.shuffle(extra)
            order += extra
        batch_idx, order = order[: settings.batch_size], order[settings.batch_size :]
        batch = collate([examples[i] for i in batch_idx], tokenizer.pad_token_id)
        batch = {k: v.to(settings.device) for k, v in batch.items()}
        with _autocast(settings.device):
            loss = peft_model(**batch).loss
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
