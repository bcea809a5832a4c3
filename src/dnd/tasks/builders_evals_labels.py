"""Wide-suite tasks from OpenAI evals data: closed label sets (yes/no, true/false, label words).

The task list (SPECS, DROPPED) is in `dnd.tasks.builders_evals`; see its docstring for the
conventions.
"""

from __future__ import annotations

import re

from dnd.tasks.builders import YES_NO
from dnd.tasks.evals_rows import HEAD_ROWS, balanced, head_rows, ideal, label_items, msg, rows, strip_label
from dnd.tasks.items import Item

# ------------------------------------------------------------------------ label tasks


def build_formal_logic() -> list[Item]:
    def body(r):
        m = re.search(r"The expression is: (.*) which evaluates to:", msg(r))
        return m and f"Logic expression: {m[1]}\nIs this expression true or false?"

    return label_items(
        head_rows("formal_logic/formal_logic_expressions.jsonl"),
        body,
        lambda r: ideal(r),
        ("true", "false"),
        "Answer true or false.",
    )


def _patient(path: str, condition: str, per_label: int) -> list[Item]:
    items = label_items(
        head_rows(path, 20000 if "diabetes" in path else HEAD_ROWS),
        lambda r: f"Patient: {msg(r)}\nIs this patient likely to have {condition}?",
        lambda r: {"1": "yes", "0": "no"}.get(ideal(r)),
        YES_NO,
        "Answer yes or no.",
    )
    return balanced(items, per_label)


def build_diabetes() -> list[Item]:
    return _patient("diabetes/samples.jsonl", "diabetes or prediabetes", 1500)


def build_heart_disease() -> list[Item]:
    return _patient("heart-disease/samples.jsonl", "heart disease", 10_000)


def build_abstract_causal() -> list[Item]:
    # The system messages are: the task, the three answers, then the observations.
    def body(r):
        obs = [m["content"].strip() for m in r["input"][4:-1]]
        return (
            "Objects are shown; some may contain a device that turns a light on. "
            "Deduce from the observations whether the light is on, off, or undetermined.\n"
            + "\n".join(obs)
            + f"\nNow: {msg(r)}"
        )

    return label_items(
        rows("abstract-causal-reasoning/text_samples.jsonl"),
        body,
        lambda r: strip_label(ideal(r), "ANSWER:"),
        ("on", "off", "undetermined"),
        "Answer on, off, or undetermined.",
    )


_HANDS = (
    "high card",
    "one pair",
    "two pair",
    "three of a kind",
    "straight",
    "flush",
    "full house",
    "four of a kind",
)


def build_poker_hands() -> list[Item]:
    def body(r):
        q = msg(r).removeprefix("Q:").strip()
        return (
            "Texas hold'em: the hole cards and community cards are given (values 2-10, J, Q, K, A; "
            f"suits s, h, c, d). What is the highest hand rank they can form?\n{q}"
        )

    return label_items(
        rows("poker_hand_ranks/full_samples.jsonl"),
        body,
        lambda r: strip_label(ideal(r), "A:"),
        _HANDS,
        "Answer with the hand rank, e.g. one pair.",
    )


def build_poker_winner() -> list[Item]:
    def body(r):
        return f"Texas hold'em hand: {msg(r)}\nWhich player has the highest probability of winning?"

    return label_items(
        rows("poker_analysis/samples.jsonl"),
        body,
        ideal,
        tuple(str(i) for i in range(1, 10)),
        "Answer with the player's number.",
    )


def _pararule_like(path: str, lead: str) -> list[Item]:
    return label_items(
        rows(path),
        lambda r: f"{lead}\n{msg(r).removesuffix('Answer:').strip()}",
        lambda r: ideal(r).lower(),
        ("true", "false"),
        "Answer true or false.",
    )


def build_pararule() -> list[Item]:
    return _pararule_like(
        "pararule-plus-multi-step-deductive-reasoning/pararule-plus-multi-step-deductive-reasoning.jsonl",
        "Use the facts and rules of the passage to decide whether the question's statement is true.",
    )


def _backgammon(path: str) -> list[Item]:
    def body(r):
        question = msg(r).split(" Provide your reasoning step by step")[0]
        return f"{msg(r, 'system')}\n{question}"

    return label_items(
        rows(path), body, lambda r: strip_label(ideal(r)), ("true", "false"), "Answer true or false."
    )


def build_backgammon_hit() -> list[Item]:
    return _backgammon("backgammon/backgammon-can-hit.jsonl")


def build_backgammon_illegal() -> list[Item]:
    return _backgammon("backgammon/backgammon-illegal-move.jsonl")


def build_syllables() -> list[Item]:
    return label_items(
        rows("syllables_long_words/long_word_samples.jsonl"),
        lambda r: f"Word: {msg(r)}\nHow many syllables does this word have?",
        ideal,
        ("5", "6"),
        "Answer with the number of syllables.",
    )


def build_corr2cause() -> list[Item]:
    return label_items(
        rows("corr2cause/corr2cause.jsonl"),
        lambda r: f"{msg(r)}\nDoes the premise entail or contradict the hypothesis, or neither?",
        lambda r: strip_label(ideal(r), "Answer:"),
        ("entailment", "contradiction", "neutral"),
        "Answer entailment, contradiction, or neutral.",
    )


def build_crepe() -> list[Item]:
    def body(r):
        return re.sub(r"\s*Answer with 'more likely'.*$", "", msg(r))

    return label_items(
        rows("crepe/samples.jsonl"),
        body,
        ideal,
        ("more likely", "less likely", "equally likely"),
        "Answer more likely, less likely, or equally likely.",
    )


def build_pointer_value() -> list[Item]:
    files = [
        f"pointer-value-retrieval/{lvl}_{n}_examples.jsonl"
        for lvl in ("easy", "medium", "hard")
        for n in ("few", "many")
    ]

    def body(r):
        lines = [m["content"].strip() for m in r["input"][1:]]
        return "Figure out the pattern in the examples and apply it to the last case.\n" + "\n".join(lines)

    return label_items(
        rows(*files),
        body,
        lambda r: strip_label(ideal(r), "ANSWER:"),
        tuple("0123456789"),
        "Answer with a single digit.",
    )


def build_product_matching() -> list[Item]:
    def body(r):
        return msg(r).replace(" Answer with 'Yes' if they do and 'No' if they do not.", "")

    return label_items(
        rows("product-matching/zeroshot/samples.jsonl"),
        body,
        lambda r: ideal(r).lower(),
        YES_NO,
        "Answer yes or no.",
    )


def build_connect4() -> list[Item]:
    def body(r):
        board = msg(r, "system").split("\n", 1)[1]
        return (
            "A 6-row, 7-column connect four board: 0 is empty, X and Y are the two players.\n"
            f"{board}\nWhich player has won?"
        )

    return label_items(
        rows("connect4/samples.jsonl"), body, ideal, ("X", "Y", "draw"), "Answer X, Y, or draw."
    )


def build_food() -> list[Item]:
    return label_items(
        rows("food/samples.jsonl"), lambda r: msg(r), lambda r: ideal(r).lower(), YES_NO, "Answer yes or no."
    )




def build_naughty_strings() -> list[Item]:
    return label_items(
        rows("naughty_strings/samples.jsonl"),
        lambda r: msg(r),
        lambda r: ideal(r).lower(),
        YES_NO,
        "Answer yes or no.",
    )


def build_regex_match() -> list[Item]:
    def body(r):
        return msg(r).replace(" Either answer with 'Yes.' or 'No.'", "")

    return label_items(
        rows("regex-match/samples.jsonl"), body, lambda r: strip_label(ideal(r)), YES_NO, "Answer yes or no."
    )


def build_unsolvable() -> list[Item]:
    def body(r):
        return f"{msg(r)}\nCan the question be answered from the context alone?"

    return label_items(
        rows("unsolvable_questions/samples.jsonl"),
        body,
        lambda r: {"Solveable": "yes", "Unsolveable": "no"}.get(ideal(r)),
        YES_NO,
        "Answer yes or no.",
    )


_BIAS = (
    "fact",
    "opinion",
    "claim",
    "argument",
    "data",
    "quote",
    "narrative",
    "sensationalism",
    "speculation",
)


def build_bias_detection() -> list[Item]:
    def body(r):
        lead = msg(r, "system").split(" Please provide a reasoning")[0]
        return f"{lead}\nSentence: {msg(r)}"

    return label_items(
        rows("bias_detection/samples.jsonl"),
        body,
        lambda r: strip_label(ideal(r)),
        _BIAS,
        "Answer with one category word.",
    )


def build_physics_interaction() -> list[Item]:
    def body(r):
        lead = msg(r, "system").split(" Respond only with")[0]
        return f"{lead}\n{msg(r)}"

    return label_items(
        rows("physics-interaction/samples.jsonl"), body, ideal, ("left", "right"), "Answer left or right."
    )


def build_dice_rotation() -> list[Item]:
    def body(r):
        lead = msg(r, "system").split(" Your answer should only")[0]
        turns = []
        for m in r["input"][1:]:
            turns.append(m["content"].strip() if m["role"] == "user" else f"Answer: {m['content'].strip()}")
        return lead + "\n" + "\n".join(turns)

    return label_items(
        rows("dice-rotation-sequence/samples.jsonl"),
        body,
        ideal,
        tuple("123456"),
        "Answer with the number on the front face.",
    )


def build_pattern_foo_bar() -> list[Item]:
    def body(r):
        return msg(r).replace(', and then answer with just "foo" or "bar"', "")

    return label_items(
        rows("pattern_identification/samples.v0.jsonl"), body, ideal, ("foo", "bar"), "Answer foo or bar."
    )


def build_bigrams() -> list[Item]:
    def body(r):
        bigram = re.search(r"the bigram '(.*?)'", msg(r, "system"))[1]
        return f"Sentence: {msg(r)}\nHow many times does the letter pair '{bigram}' occur in this sentence?"

    return label_items(rows("bigrams/samples.jsonl"), body, ideal, tuple("012345"), "Answer with a number.")




def build_which_is_heavier() -> list[Item]:
    return label_items(
        rows("which_is_heavier/which_is_heavier.jsonl"),
        lambda r: msg(r).removesuffix("Answer Yes or No").strip(),
        lambda r: ideal(r).lower(),
        YES_NO,
        "Answer yes or no.",
    )


def build_gpt_text_detection() -> list[Item]:
    def body(r):
        return f"Text: {msg(r)}\nWas this text generated by the GPT model text-davinci-001?"

    return label_items(
        rows("GPT-model-text-detection/samples.jsonl"),
        body,
        lambda r: strip_label(ideal(r)),
        YES_NO,
        "Answer yes or no.",
    )
