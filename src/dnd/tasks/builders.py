"""Builders for the commonsense and short-answer tasks: raw rows -> `Item`s.

Every builder returns all the items it can make from its data, in file order; the
registry dedupes them by prompt, checks them and splits them into pools.

Answer design. The default base model (SmolLM2-135M) cannot bind option letters to
options: with "A/B/C/D" answers it stays at chance even after training a LoRA on the
task (DESIGN.md section 4). So answers here are short texts the model can score or emit
directly: "yes"/"no", a label word ("positive"), or the correct option's own text. For
multiple-choice tasks `choices` holds the option texts and `answer` the correct one, and
the prompt lists the options as plain lines with no letters. Prompts are the user turn
only (the chat template is applied elsewhere) and end with a one-line instruction saying
what form the answer takes.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Iterable, Sequence

from dnd.tasks.items import Item
from dnd.tasks.sources import read_evals_jsonl, read_hf_arrow, read_oe_eval_docs

MC_INSTRUCTION = "Answer with the correct option's text."
YES_NO = ("yes", "no")


# ---------------------------------------------------------------------------- helpers


def one_line(text: str) -> str:
    """Collapse all whitespace runs (newlines included) to single spaces."""
    return " ".join(str(text).split())


def mc_item(stem: str, options: Sequence[str], gold: int) -> Item | None:
    """A multiple-choice item: the stem, the options as plain lines, the instruction.

    Returns None (the row is skipped) when the options cannot be told apart by their
    text (an empty or repeated option) or the gold index is out of range: an answer
    given as text is only well defined when the option texts are distinct. Options are
    written on one line each with whitespace collapsed, so options that differ only in
    whitespace (e.g. "' padded'" vs "'padded'" in basic_strings) also count as repeats.
    """
    choices = tuple(one_line(o) for o in options)
    if not 0 <= gold < len(choices) or "" in choices or len(set(choices)) < len(choices):
        return None
    listed = "\n".join(f"- {c}" for c in choices)
    prompt = f"{stem.strip()}\nOptions:\n{listed}\n{MC_INSTRUCTION}"
    return Item(prompt=prompt, answer=choices[gold], choices=choices)


def seeded_rng(key: str) -> random.Random:
    """A random generator fixed by `key` alone (SHA-256 seeded: the same in every process and
    on every machine, unlike Python's salted `hash`), for option orders and distractor picks."""
    return random.Random(hashlib.sha256(key.encode("utf-8")).hexdigest())


def shuffled_mc_item(stem: str, gold: str, others: Sequence[str], key: str) -> Item | None:
    """An `mc_item` whose options, `gold` and `others`, are listed in an order fixed by `key`
    (for data that always lists the answer in the same place, or options built per item)."""
    options = [gold, *others]
    seeded_rng(key).shuffle(options)
    return mc_item(stem, options, options.index(gold))


def label_item(body: str, instruction: str, labels: Sequence[str], answer: str) -> Item:
    """A classification item whose answer is one of a few fixed label words."""
    return Item(prompt=f"{body.strip()}\n{instruction}", answer=answer, choices=tuple(labels))


def keep(items: Iterable[Item | None]) -> list[Item]:
    return [it for it in items if it is not None]


def question_from_query(query: str) -> str:
    """oe-eval "rc" queries read 'Question: <q>\\nAnswer:'; return '<q>'."""
    q = query.strip()
    q = q.removeprefix("Question:").strip()
    return q.removesuffix("Answer:").strip()


def _oe_mc(task: str, variants: Sequence[str]) -> list[Item]:
    # oe-eval "rc" dumps keep the question in `query` and the option texts in `choices`.
    items = []
    for variant in variants:
        for d in read_oe_eval_docs(task, variant):
            items.append(mc_item("Question: " + question_from_query(d["query"]), d["choices"], d["gold"]))
    return keep(items)


def _detok(s: str) -> str:
    # GLUE text is tokenized ("does n't", "( a )", "end ."); undo the common cases the way
    # olmo-eval does, so prompts read like ordinary text.
    s = s.replace(" n't", "n't").replace(" )", ")").replace("( ", "(")
    s = s.replace('" ', '"').replace(' "', '"')
    return re.sub(r" (['.,])", r"\1", s).strip()


# ------------------------------------------------------------------ commonsense suite
# ARC and OpenBookQA: the test split (oe-eval test_rc dump) plus the validation split
# (rc_0shot dump) together, since neither split alone gives ARC-Challenge 200+ eval items
# next to a useful train pool. Both are held-out splits of the same benchmark.


def build_arc_e() -> list[Item]:
    return _oe_mc("arc_easy", ["test_rc_5shot", "rc_0shot"])


def build_arc_c() -> list[Item]:
    return _oe_mc("arc_challenge", ["test_rc_5shot", "rc_0shot"])


def build_obqa() -> list[Item]:
    return _oe_mc("openbookqa", ["test_rc_5shot", "rc_0shot"])


def build_boolq() -> list[Item]:
    rows = read_hf_arrow("boolq", None, "validation")
    return [
        label_item(
            f"{r['passage']}\nQuestion: {r['question'].strip().rstrip('?')}?",
            "Answer yes or no.",
            YES_NO,
            "yes" if r["answer"] else "no",
        )
        for r in rows
    ]


def _hellaswag_clean(text: str) -> str:
    # The WikiHow part of HellaSwag carries "[title]"/"[header]" markup.
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ").strip()


def build_hellaswag() -> list[Item]:
    items = []
    for r in read_hf_arrow("hellaswag", None, "validation"):
        context = _hellaswag_clean(f"{r['activity_label']}: {r['ctx_a']} {r['ctx_b'].capitalize()}")
        endings = [_hellaswag_clean(e) for e in r["endings"]]
        items.append(mc_item(f"{context}\nWhat happens next?", endings, int(r["label"])))
    return keep(items)


def build_piqa() -> list[Item]:
    return keep(
        mc_item(f"Goal: {r['goal']}\nWhich solution achieves the goal?", [r["sol1"], r["sol2"]], r["label"])
        for r in read_hf_arrow("piqa", "plain_text", "validation")
    )


def build_winogrande() -> list[Item]:
    return keep(
        mc_item(
            f"Fill in the blank (_): {r['sentence']}\nWho or what belongs in the blank?",
            [r["option1"], r["option2"]],
            int(r["answer"]) - 1,
        )
        for r in read_hf_arrow("winogrande", "winogrande_xl", "validation")
    )


# ------------------------------------------------------------------------ short suite


def build_sst2() -> list[Item]:
    labels = ("negative", "positive")  # GLUE ClassLabel order
    return [
        label_item(
            f"Sentence: {_detok(r['sentence'])}\nIs the sentiment of this sentence positive or negative?",
            "Answer positive or negative.",
            ("positive", "negative"),
            labels[r["label"]],
        )
        for r in read_hf_arrow("glue", "sst2", "validation")
    ]


def build_rte() -> list[Item]:
    # GLUE RTE: 0 = entailment, 1 = not_entailment.
    return [
        label_item(
            f"Premise: {r['sentence1']}\nHypothesis: {r['sentence2']}\nDoes the premise entail the hypothesis?",
            "Answer yes or no.",
            YES_NO,
            "yes" if r["label"] == 0 else "no",
        )
        for r in read_hf_arrow("glue", "rte", "validation")
    ]


def build_mrpc() -> list[Item]:
    # GLUE MRPC: 1 = equivalent, 0 = not_equivalent.
    return [
        label_item(
            f"Sentence 1: {_detok(r['sentence1'])}\nSentence 2: {_detok(r['sentence2'])}\n"
            "Do both sentences mean the same thing?",
            "Answer yes or no.",
            YES_NO,
            "yes" if r["label"] == 1 else "no",
        )
        for r in read_hf_arrow("glue", "mrpc", "validation")
    ]


def build_cb() -> list[Item]:
    # CommitmentBank: 0 = entailment, 1 = contradiction, 2 = neutral. Mapped to the
    # one-word answers yes / no / maybe, which a small model already knows as replies.
    words = ("yes", "no", "maybe")
    return [
        label_item(
            f"Premise: {r['premise']}\nHypothesis: {r['hypothesis']}\nIs the hypothesis true given the premise?",
            "Answer yes, no, or maybe.",
            words,
            words[r["label"]],
        )
        for r in read_hf_arrow("super_glue", "cb", "validation")
    ]


def build_copa() -> list[Item]:
    items = []
    for r in read_hf_arrow("super_glue", "copa", "validation"):
        ask = "What was the cause?" if r["question"] == "cause" else "What happened as a result?"
        items.append(mc_item(f"Premise: {r['premise']}\n{ask}", [r["choice1"], r["choice2"]], r["label"]))
    return keep(items)


def build_sciq() -> list[Item]:
    # oe-eval's dump keeps the options already shuffled (the HF rows list the correct
    # answer apart from the distractors, so using them would need our own shuffle). The
    # support paragraph is left out: with it SciQ becomes reading comprehension, without
    # it a science-knowledge task like ARC, which is what the task should measure.
    return keep(
        mc_item(f"Question: {d['question']}", d["choices"], d["gold"])
        for d in read_oe_eval_docs("sciq", "rc_0shot")
    )


def build_social_iqa() -> list[Item]:
    return keep(
        mc_item(
            f"{r['context']}\nQuestion: {r['question']}",
            [r["answerA"], r["answerB"], r["answerC"]],
            int(r["label"]) - 1,  # labels are "1".."3"
        )
        for r in read_hf_arrow("social_i_qa", None, "validation")
    )


def build_sarcasm() -> list[Item]:
    # OpenAI evals "sarcasm": news headlines (The Onion vs HuffPost), ideal "1" = sarcastic.
    return [
        label_item(
            f"Headline: {one_line(r['input'][-1]['content'])}\nIs this headline sarcastic?",
            "Answer yes or no.",
            YES_NO,
            "yes" if r["ideal"] == "1" else "no",
        )
        for r in read_evals_jsonl("sarcasm/samples.jsonl")
    ]


_QUARTZ = re.compile(r"(?s)(.*)\n\n A: (.*)\n B: (.*)")


def build_quartz() -> list[Item]:
    # OpenAI evals "quartz" (AI2 QuaRTz, qualitative relations): the user message is the
    # question followed by "\n\n A: x\n B: y"; we keep x and y as option texts.
    items = []
    for r in read_evals_jsonl("quartz/samples.jsonl"):
        m = _QUARTZ.fullmatch(r["input"][-1]["content"].strip())
        if m and r["ideal"] in ("A", "B"):
            items.append(mc_item(f"Question: {m[1]}", [m[2], m[3]], "AB".index(r["ideal"])))
    return keep(items)


def build_basic_knowledge() -> list[Item]:
    # AI2 basic-skills "common knowledge": a sentence to complete with one word or term.
    return keep(
        mc_item(f"Complete the sentence: {d['question']} ...", d["choices"], d["gold"])
        for d in read_oe_eval_docs("basic_skills_common_knowledge", "rc_5shot")
    )
