"""Wide-suite tasks from OpenAI evals data: stories, multiple choice and open short answers.

The closed-label tasks are in `dnd.tasks.builders_evals_labels`, the task list (SPECS,
DROPPED) in `dnd.tasks.builders_evals`; see its docstring for the conventions.
"""

from __future__ import annotations

import re

from dnd.tasks.builders import label_item
from dnd.tasks.evals_rows import (
    fits,
    ideal,
    lettered,
    mc_items,
    mc_lettered,
    msg,
    open_items,
    rows,
    strip_label,
)
from dnd.tasks.items import Item

# ---------------------------------------------------------------------- story questions


def _containers(story: str) -> tuple[str, ...]:
    # Theory-of-mind stories put objects "in the X" and move them "to the X".
    return tuple(dict.fromkeys(re.findall(r"(?:is in|to) the ([a-z_]+)", story)))


def _tom(path: str) -> list[Item]:
    items = []
    for r in rows(path):
        story, answer = msg(r), ideal(r)
        options = _containers(story)
        if answer in options and len(options) >= 2 and fits(story):
            items.append(label_item(story, "Answer with the container's name.", options, answer))
    return items


def build_tomi() -> list[Item]:
    return _tom("theory_of_mind/tomi/test.jsonl")


def build_hitom() -> list[Item]:
    return _tom("theory_of_mind/hitom/hitom.jsonl")


# -------------------------------------------------------------- multiple-choice tasks


def build_guess_the_singer() -> list[Item]:
    def parse(r):
        m = re.fullmatch(r"(?s)Text: (.*)\nChoices: (.*)", msg(r))
        if not m:
            return None
        options = [o.strip() for o in m[2].split(",")]
        gold = ideal(r)
        return (
            f"Song lyrics (the first words): {m[1].strip()}\nWho sings this song?",
            options,
            options.index(gold) if gold in options else -1,
        )

    return mc_items(rows("guess_the_singer/samples.jsonl"), parse)


def build_parable_moral() -> list[Item]:
    pattern = re.compile(r"(?s)(.*)\nWhich moral.*?\n(A\) .*?)\nThe output should")

    def parse(r):
        m = pattern.match(msg(r))
        if not m:
            return None
        options = re.split(r"\s*\b[B-E]\) ", m[2].removeprefix("A) "))
        gold = ideal(r).removeprefix("The final answer is:").strip()
        if len(options) != 5 or gold not in "ABCDE":
            return None
        return f"Story: {m[1].strip()}\nWhich moral does this story convey?", options, "ABCDE".index(gold)

    return mc_items(rows("parable-to-moral-match/parable-to-moral-match-en.jsonl"), parse)


def _logiqa_option(text: str) -> str:
    return re.sub(r"^[A-D]\.\s*", "", text).strip()


def build_logiqa() -> list[Item]:
    def parse(r):
        out = mc_lettered(r, clean=_logiqa_option)
        return out and (out[0].replace("Question:", "\nQuestion:", 1), out[1], out[2])

    return mc_items(rows("logiqa/logiqa.jsonl"), parse)


def build_fcc_amateur() -> list[Item]:
    return mc_items(
        rows("fcc_amateur_extra/samples.jsonl"),
        lambda r: mc_lettered(r, lead="Amateur radio license exam question: "),
    )


def build_us_tort_law() -> list[Item]:
    return mc_items(
        rows("us_tort_law/samples.jsonl"), lambda r: mc_lettered(r, lead="US tort law question: ")
    )


def build_jee_math() -> list[Item]:
    def parse(r):
        stem, letters, options = lettered(msg(r))
        m = re.search(r"\(([A-D])\)", ideal(r))
        if letters != list("ABCD") or not m:
            return None
        return f"Math question: {stem}", options, letters.index(m[1])

    return mc_items(rows("jee-math/samples.jsonl"), parse)


def build_diagrammatic_logic() -> list[Item]:
    def parse(r):
        text = msg(r)
        if "Possible Answers:" not in text:
            return None
        stem, answers = text.split("Possible Answers:", 1)
        opts = re.findall(r"^([A-D]) - (.*)$", answers, re.M)
        gold = ideal(r)
        if [o[0] for o in opts] != list("ABCD") or gold not in "ABCD":
            return None
        lead = (
            "Work out the sequence that replaces '?'. Operators apply left to right; "
            "some effects must be worked out from the examples."
        )
        return f"{lead}\n{stem.strip()}", [o[1].strip() for o in opts], "ABCD".index(gold)

    return mc_items(rows("diagrammatic_logic/samples.jsonl"), parse)


def build_word_association() -> list[Item]:
    files = [f"word_association/related_words_{n}.jsonl" for n in (2, 3, 4, 5)]

    def parse(r):
        m = re.search(r"related words: \[(.*?)\]\. Here is a list of your options: \[(.*?)\]", msg(r))
        if not m:
            return None
        options = [o.strip() for o in m[2].split(",")]
        gold = strip_label(ideal(r))
        return (
            f"Related words: {m[1]}\nWhich secret word is related to all of them?",
            options,
            options.index(gold) if gold in options else -1,
        )

    return mc_items(rows(*files), parse)


# ----------------------------------------------------------------- open short answers


def build_binary_ops() -> list[Item]:
    items = open_items(
        rows("positive-binary-operations/samples.jsonl"),
        lambda r: f"Binary numbers: {msg(r)}\nWhat is the result, in decimal?",
        ideal,
        "Answer with a decimal number.",
    )
    return items[:3000]


def build_recurrence() -> list[Item]:
    return open_items(
        rows("recurrence-relation/samples.jsonl"),
        lambda r: f"Recurrence: {msg(r)}\nWhat is its asymptotic runtime?",
        lambda r: ideal(r).strip("[]"),
        "Answer in the form n^k.",
    )


def build_resistor_ohms() -> list[Item]:
    return open_items(
        rows("resistor_ohm_calculator/samples.jsonl"),
        lambda r: (
            "A 4-band resistor has these color bands (two digits, multiplier, tolerance): "
            f"{msg(r)}\nWhat is its resistance in ohms?"
        ),
        ideal,
        "Answer with a number.",
    )


def build_date_to_text() -> list[Item]:
    return open_items(
        rows("imperial_date_to_string/samples.jsonl"),
        lambda r: f"Date: {msg(r)}\nWrite it as weekday, month day, year.",
        lambda r: ideal(r).rstrip("."),
        "Answer like: Monday, January 9, 2023",
    )


def build_logical_counting() -> list[Item]:
    def body(r):
        return msg(r, "system").replace(
            "Solve the following logical puzzle. Answer in number, no additional text is required in the response. ",
            "",
        )

    return open_items(rows("logical_counting/samples.jsonl"), body, ideal, "Answer with a number.")


def build_smiles_formula() -> list[Item]:
    return open_items(
        rows("smiles_to_formula/samples.jsonl"),
        lambda r: f"SMILES: {msg(r)}\nWhat is the molecular formula?",
        lambda r: ideal(r).strip("[]"),
        "Answer with the formula, e.g. C9H13NO3.",
    )


def build_graph_reasoning() -> list[Item]:
    return open_items(
        rows("comprehensive-graph-reasoning/samples.jsonl"),
        lambda r: msg(r).removesuffix("A:"),
        ideal,
        "Answer briefly, e.g. N_0, N_3, N_9 or 2 clusters or None.",
    )


def build_integer_sequence() -> list[Item]:
    files = [
        f"integer-sequence-predictions/{f}.jsonl"
        for f in ("samples", "misc-and-recent-sequences", "notable-sequences", "obscure-sequences")
    ]

    def body(r):
        m = re.search(r"Sequence: (\{.*\})", msg(r))
        return m and f"Sequence: {m[1]}\nWhich number goes in place of the '?'?"

    return open_items(rows(*files), body, ideal, "Answer with a number.")


def build_music_chords() -> list[Item]:
    files = ("music-theory/triads-samples.jsonl", "music-theory/tetrads-samples.jsonl")
    return open_items(
        rows(*files),
        lambda r: f"Notes: {msg(r).replace(';', ', ')}\nWhich chord are these notes?",
        lambda r: ideal(r).rstrip("."),
        "Answer with the jazz chord symbol, e.g. D#m7.",
    )


def build_numbers_game() -> list[Item]:
    def answer(r):
        m = re.search(r"\((\d+)\)", ideal(r))
        return m and m[1]

    return open_items(rows("numbers_game/samples.jsonl"), lambda r: msg(r), answer, "Answer with a number.")


def build_chinese_zodiac() -> list[Item]:
    def body(r):
        return (
            "Given the current year, a person's Chinese zodiac animal and their age range, "
            f"find their year of birth.\n{msg(r)}"
        )

    return open_items(rows("chinese_zodiac/samples.jsonl"), body, ideal, "Answer with the 4-digit year.")


def build_determinant() -> list[Item]:
    return open_items(
        rows("determinant/samples.jsonl"),
        lambda r: f"Matrix: {msg(r)}\nWhat is its determinant?",
        ideal,
        "Answer with the number to 2 decimals.",
    )


def build_anagrams() -> list[Item]:
    return open_items(
        rows("anagrams/samples.jsonl"),
        lambda r: f"Letters: {msg(r)}\nWhich word is an anagram of them?",
        ideal,
        "Answer with one word.",
    )




def build_missing_name() -> list[Item]:
    def body(r):
        return (
            "List 1 has names as 'First Last', list 2 as 'Last First'. "
            f"Which name is in list 1 but not in list 2?\n{msg(r)}"
        )

    return open_items(
        rows("list_comparison_missing_name/samples.jsonl"), body, ideal, "Answer with the name as First Last."
    )
