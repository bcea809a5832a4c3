"""Short task descriptions: the generator's second kind of condition.

Every registry task has at least one description: a hand-written sentence where this
module has one (WRITTEN), and one derived from the registry (domain, answer format) and the
task's instruction lines (the lines most of its train-pool prompts share, e.g. "Is the
sentiment of this sentence positive or negative? Answer positive or negative."). Tasks
added to the registry later get the derived one automatically. Training samples one of a
task's descriptions per condition.
"""

from __future__ import annotations

from collections import Counter

import torch

WRITTEN: dict[str, str] = {
    "arc_e": "Answer an easy grade-school science question by choosing the correct option.",
    "arc_c": "Answer a hard grade-school science question by choosing the correct option.",
    "boolq": "Read a passage and answer a yes/no question about it.",
    "hellaswag": "Pick the most plausible continuation of an everyday scene.",
    "piqa": "Choose the solution that achieves a physical everyday goal.",
    "winogrande": "Fill in the blank with the option the pronoun-like gap refers to.",
    "obqa": "Answer an open-book elementary science question by choosing the correct option.",
    "sst2": "Classify the sentiment of a movie review sentence as positive or negative.",
    "rte": "Decide whether a premise entails a hypothesis; answer yes or no.",
    "mrpc": "Decide whether two sentences are paraphrases of each other; answer yes or no.",
    "cb": "Decide whether a premise entails, contradicts or is neutral to a hypothesis.",
    "copa": "Choose the more plausible cause or effect of a premise.",
    "sciq": "Answer a science exam question by choosing the correct option.",
    "social_iqa": "Answer a question about people's motivations and reactions in a social situation.",
    "sarcasm": "Decide whether a news headline is sarcastic; answer yes or no.",
    "quartz": "Answer a qualitative question about how one quantity affects another.",
    "basic_knowledge": "Answer a general knowledge question by choosing the correct option.",
    "commonsense_qa": "Answer a commonsense question by choosing the correct option.",
    "mmlu_stem": "Answer a college-level science, technology or mathematics exam question.",
    "mmlu_humanities": "Answer an exam question on history, law or philosophy.",
    "mmlu_social": "Answer an exam question on economics, psychology or politics.",
    "mmlu_other": "Answer an exam question on medicine, business or other professional topics.",
    "medmcqa": "Answer a medical entrance exam question by choosing the correct option.",
    "arithmetic": "Solve an arithmetic problem by choosing the correct result.",
    "basic_coding": "Answer a basic programming question by choosing the correct option.",
    "basic_logic": "Solve a basic logic puzzle by choosing the correct option.",
    "basic_pattern": "Continue a pattern by choosing the correct option.",
    "basic_strings": "Answer a question about manipulating strings by choosing the correct option.",
    "gsm8k": "Solve a grade-school math word problem and give the final number.",
    "math": "Solve a competition math problem and give the final answer.",
    "mbpp": "Write a short Python function that solves the described problem.",
    "humaneval": "Complete a Python function from its signature and docstring.",
}


def instruction_lines(prompts: list[str], share: float = 0.6, limit: int = 200) -> list[str]:
    """Lines that at least `share` of the prompts contain (their instruction), in the
    order of the first prompt; list headers such as "Options:" are left out."""
    prompts = prompts[:limit]
    counts = Counter(line for p in prompts for line in {ln.strip() for ln in p.splitlines()})
    first = prompts[0].splitlines() if prompts else []
    keep = [ln.strip() for ln in first
            if counts[ln.strip()] >= share * len(prompts) and not ln.strip().endswith(":") and len(ln.strip()) > 3]
    return list(dict.fromkeys(keep))


def derived_description(spec, prompts: list[str]) -> str:
    """From the registry entry and the prompts: "A sentiment task (answer: label). Is ...?"."""
    lines = instruction_lines(prompts)
    text = f"A {spec.domain} task (answer: {spec.answer_format})."
    return f"{text} {' '.join(lines)}" if lines else text


def task_descriptions(name: str, prompts: list[str]) -> list[str]:
    """The descriptions of a registry task (call only after registry.check_trainable)."""
    from dnd.tasks.registry import get_task

    out = [WRITTEN[name]] if name in WRITTEN else []
    return out + [derived_description(get_task(name), prompts)]


@torch.no_grad()
def encode_descriptions(encoder, texts: list[str]) -> torch.Tensor:
    """(n, D) normalized sentence embeddings of descriptions, with the condition's encoder
    (a dnd.generator.condition.ConditionEncoder), whatever its prompt feature kind."""
    emb = encoder.model.encode(list(texts), batch_size=64, convert_to_tensor=True,
                               normalize_embeddings=True, show_progress_bar=False)
    return emb.float().cpu()
