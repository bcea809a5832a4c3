"""How a prompt is shown to the model, in one place: LoRA training (dnd.lora.train), scoring
(dnd.evaluation.scoring) and serving (dnd.serving.chat) all go through it, so an adapter is
scored and served under the very format it was trained on.

    format_prompt(tokenizer, prompt, shots)   # the chat template's user turn + assistant start
    end_of_turn_id(tokenizer)                 # the token that ends an answer
    encode_prompt(tokenizer, prompt, n)       # token ids, a long prompt cut in its middle
"""

from __future__ import annotations


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
