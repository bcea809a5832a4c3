"""Wide-suite tasks from OpenAI evals data files (`evals==3.0.1.post1`, read, never imported).

SPECS lists (name, domain, answer_format, build) for the registry.

Each evals row is {"input": [chat messages], "ideal": answer}. The test files are the
`samples_jsonl` files named in evals/registry/evals/*.yaml (never the few-shot files).
Prompts follow `dnd.tasks.builders`: the task text (system and user contents, rewritten
where the original asks for step-by-step reasoning, letters or an output template that
conflicts with a short answer) ending in a one-line instruction; answers are a label word,
yes/no, a number, a short phrase or an option's own text. Lettered multiple-choice
folders are rewritten into option texts (the options are in the prompt); `choices` is the
label set wherever the answer set is closed. Items whose prompt exceeds MAX_PROMPT_CHARS
are skipped (they would dominate LoRA training time).

Two folders are huge (formal_logic 215k rows, diabetes 288k rows): only their first
HEAD_ROWS rows are read (file order mixes the labels), which keeps a build fast.

DROPPED lists the usable-looking English folders left out and why; beyond those, every
non-English folder (the *-exams-qa, *-lexicon, ukraine_*, belarusian_*, japanese_*,
chinese characters, french/german part-of-speech, parable zh, lat_long_identify whose
answers are country names in local scripts) is left out, as are folders with long or
structured answers (see the data census).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Callable, Iterable, Sequence

from dnd.tasks.builders import YES_NO, keep, label_item, mc_item, one_line
from dnd.tasks.items import Item
from dnd.tasks.sources import MissingDataError, evals_data_dir, read_evals_jsonl

MAX_PROMPT_CHARS = 3000
MAX_OPEN_ANSWER_CHARS = 32  # longer open answers (e.g. 65-digit sequence terms) are skipped
HEAD_ROWS = 6000

DROPPED: dict[str, str] = {
    "sarcasm": "already the `sarcasm` task (short suite)",
    "quartz": "already the `quartz` task (short suite)",
    "abstract-causal-reasoning/symbolic_samples": "the same puzzles as the text file in symbols (duplicate)",
    "theory_of_mind/socialiqa": "duplicates the `social_iqa` task, lettered",
    "theory_of_mind/hitom-multiple-choice": "the hitom stories again, lettered (duplicate)",
    "product-matching/fewshot, rules": "the same 433 pairs as zeroshot with longer prompts (duplicate)",
    "benjaminmoore_to_hex, pantone_to_hex, ral_to_hex": "hex codes of named paints: a lookup no eval item can learn from train items",
    "mapping_to_matricies": "answers are JSON structures",
    "css-selectors": "57-114 items per file, too few",
    "stock_options": "8-12 items per file, mixed question types",
    "music_theory_scale_modes": "161 unique items, too few (and the scale names are aliases)",
    "chess_piece_count": "190 unique items, too few",
    "logiqa-logical-reasoning-plus": "its 'plus' files replace the correct option by 'None of the other "
    "options are correct' (the answer of every item: degenerate); the `logiqa` task uses the logiqa folder",
    "sindarin_fluency": "not English (Sindarin)",
    "naughty_strings/security": "no ideal answers",
}


# ---------------------------------------------------------------------------- helpers


def _rows(*relpaths: str) -> Iterable[dict]:
    return itertools.chain.from_iterable(read_evals_jsonl(p) for p in relpaths)


def _head(relpath: str, n: int = HEAD_ROWS) -> list[dict]:
    """The first `n` rows of a large evals file (reading all of it takes seconds)."""
    file = evals_data_dir() / relpath
    if not file.is_file():
        raise MissingDataError(f"{file}: data file missing (reinstall the asset packages)")
    with open(file, encoding="utf-8") as f:
        return [json.loads(line) for line in itertools.islice(f, n) if line.strip()]


def _msg(row: dict, role: str = "user", index: int = -1) -> str:
    """The content of the `index`-th message of a role (default: the last user message)."""
    return [m["content"] for m in row["input"] if m.get("role") == role][index].strip()


def _ideal(row: dict) -> str:
    ideal = row.get("ideal")
    if isinstance(ideal, list):
        ideal = ideal[0] if ideal else None
    return "" if ideal is None else str(ideal).strip()


def _fits(prompt: str) -> bool:
    return len(prompt) <= MAX_PROMPT_CHARS


def _labels(
    rows: Iterable[dict],
    body: Callable[[dict], str | None],
    answer: Callable[[dict], str | None],
    labels: Sequence[str],
    instruction: str,
) -> list[Item]:
    """Closed-label items: `body(row)` is the prompt text, `answer(row)` one of `labels`."""
    items = []
    for r in rows:
        a, b = answer(r), body(r)
        if a in labels and b and _fits(b):
            items.append(label_item(b, instruction, labels, a))
    return items


def _open(
    rows: Iterable[dict],
    body: Callable[[dict], str | None],
    answer: Callable[[dict], str | None],
    instruction: str,
) -> list[Item]:
    """Open short-answer items (no choices)."""
    items = []
    for r in rows:
        a, b = answer(r), body(r)
        if a and len(a) <= MAX_OPEN_ANSWER_CHARS and b and _fits(b):
            items.append(Item(prompt=f"{b.strip()}\n{instruction}", answer=a))
    return items


def _mc(rows: Iterable[dict], parse: Callable[[dict], tuple[str, list[str], int] | None]) -> list[Item]:
    """Multiple-choice items rewritten into option texts; `parse` gives (stem, options, gold)."""
    items = (mc_item(*parsed) for parsed in map(parse, rows) if parsed is not None)
    # Items whose options are themselves bare letters ("A".."E", e.g. people named A-E)
    # would read as letter answers: skipped.
    return [it for it in keep(items) if _fits(it.prompt) and set(it.choices) - set("ABCDE")]


def _balanced(items: list[Item], per_label: int) -> list[Item]:
    """At most `per_label` items of each answer, in input order."""
    seen: dict[str, int] = {}
    out = []
    for it in items:
        if seen.get(it.answer, 0) < per_label:
            seen[it.answer] = seen.get(it.answer, 0) + 1
            out.append(it)
    return out


def _strip_label(text: str, prefix: str = "") -> str:
    # "[claim]" -> "claim", "ANSWER: off" -> "off", "Yes." -> "yes"
    text = text.strip().removeprefix(prefix).strip()
    return text.strip("[]").strip().rstrip(".").strip().lower()


_LETTERED = re.compile(r"^\(?([A-E])[.)]\)? ?(.*)$")


def _lettered(text: str) -> tuple[str, list[str], list[str]]:
    """Split 'stem\\nA. x\\nB. y...' (or '(A) x') into (stem, letters, option texts)."""
    stem, letters, options = [], [], []
    for line in text.strip().splitlines():
        m = _LETTERED.match(line.strip())
        if m and (letters or line.strip()[:1] in "A(") and len(letters) < 5:
            letters.append(m[1])
            options.append(m[2].strip())
        elif not letters:
            stem.append(line)
        elif line.strip() and not line.strip().startswith("Answer"):
            options[-1] += " " + line.strip()
    return "\n".join(stem).strip(), letters, options


def _mc_lettered(row: dict, lead: str = "", clean: Callable[[str], str] = lambda s: s):
    stem, letters, options = _lettered(_msg(row))
    gold = _ideal(row).strip("()")
    if letters != list("ABCDE"[: len(letters)]) or gold not in letters or len(letters) < 2:
        return None
    return (lead + stem).strip(), [clean(o) for o in options], letters.index(gold)


# ------------------------------------------------------------------------ label tasks


def build_formal_logic() -> list[Item]:
    def body(r):
        m = re.search(r"The expression is: (.*) which evaluates to:", _msg(r))
        return m and f"Logic expression: {m[1]}\nIs this expression true or false?"

    return _labels(_head("formal_logic/formal_logic_expressions.jsonl"), body, lambda r: _ideal(r),
                   ("true", "false"), "Answer true or false.")


def _patient(path: str, condition: str, per_label: int) -> list[Item]:
    items = _labels(
        _head(path, 20000 if "diabetes" in path else HEAD_ROWS),
        lambda r: f"Patient: {_msg(r)}\nIs this patient likely to have {condition}?",
        lambda r: {"1": "yes", "0": "no"}.get(_ideal(r)),
        YES_NO,
        "Answer yes or no.",
    )
    return _balanced(items, per_label)


def build_diabetes() -> list[Item]:
    return _patient("diabetes/samples.jsonl", "diabetes or prediabetes", 1500)


def build_heart_disease() -> list[Item]:
    return _patient("heart-disease/samples.jsonl", "heart disease", 10_000)


def build_abstract_causal() -> list[Item]:
    # The system messages are: the task, the three answers, then the observations.
    def body(r):
        obs = [m["content"].strip() for m in r["input"][4:-1]]
        return ("Objects are shown; some may contain a device that turns a light on. "
                "Deduce from the observations whether the light is on, off, or undetermined.\n"
                + "\n".join(obs) + f"\nNow: {_msg(r)}")

    return _labels(_rows("abstract-causal-reasoning/text_samples.jsonl"), body,
                   lambda r: _strip_label(_ideal(r), "ANSWER:"), ("on", "off", "undetermined"),
                   "Answer on, off, or undetermined.")


_HANDS = ("high card", "one pair", "two pair", "three of a kind", "straight", "flush",
          "full house", "four of a kind")


def build_poker_hands() -> list[Item]:
    def body(r):
        q = _msg(r).removeprefix("Q:").strip()
        return ("Texas hold'em: the hole cards and community cards are given (values 2-10, J, Q, K, A; "
                f"suits s, h, c, d). What is the highest hand rank they can form?\n{q}")

    return _labels(_rows("poker_hand_ranks/full_samples.jsonl"), body,
                   lambda r: _strip_label(_ideal(r), "A:"), _HANDS,
                   "Answer with the hand rank, e.g. one pair.")


def build_poker_winner() -> list[Item]:
    def body(r):
        return f"Texas hold'em hand: {_msg(r)}\nWhich player has the highest probability of winning?"

    return _labels(_rows("poker_analysis/samples.jsonl"), body, _ideal,
                   tuple(str(i) for i in range(1, 10)), "Answer with the player's number.")


def _pararule_like(path: str, lead: str) -> list[Item]:
    return _labels(_rows(path), lambda r: f"{lead}\n{_msg(r)}", lambda r: _ideal(r).lower(),
                   ("true", "false"), "Answer true or false.")


def build_pararule() -> list[Item]:
    return _pararule_like(
        "pararule-plus-multi-step-deductive-reasoning/pararule-plus-multi-step-deductive-reasoning.jsonl",
        "Use the facts and rules of the passage to decide whether the question's statement is true.")


def _backgammon(path: str) -> list[Item]:
    return _labels(_rows(path), lambda r: f"{_msg(r, 'system')}\n{_msg(r)}",
                   lambda r: _strip_label(_ideal(r)), ("true", "false"), "Answer true or false.")


def build_backgammon_hit() -> list[Item]:
    return _backgammon("backgammon/backgammon-can-hit.jsonl")


def build_backgammon_illegal() -> list[Item]:
    return _backgammon("backgammon/backgammon-illegal-move.jsonl")


def build_syllables() -> list[Item]:
    return _labels(_rows("syllables_long_words/long_word_samples.jsonl"),
                   lambda r: f"Word: {_msg(r)}\nHow many syllables does this word have?", _ideal,
                   ("5", "6"), "Answer with the number of syllables.")


def build_corr2cause() -> list[Item]:
    return _labels(_rows("corr2cause/corr2cause.jsonl"),
                   lambda r: f"{_msg(r)}\nDoes the premise entail or contradict the hypothesis, or neither?",
                   lambda r: _strip_label(_ideal(r), "Answer:"), ("entailment", "contradiction", "neutral"),
                   "Answer entailment, contradiction, or neutral.")


def build_crepe() -> list[Item]:
    def body(r):
        return re.sub(r"\s*Answer with 'more likely'.*$", "", _msg(r))

    return _labels(_rows("crepe/samples.jsonl"), body, _ideal,
                   ("more likely", "less likely", "equally likely"),
                   "Answer more likely, less likely, or equally likely.")


def build_pointer_value() -> list[Item]:
    files = [f"pointer-value-retrieval/{lvl}_{n}_examples.jsonl"
             for lvl in ("easy", "medium", "hard") for n in ("few", "many")]

    def body(r):
        lines = [m["content"].strip() for m in r["input"][1:]]
        return "Figure out the pattern in the examples and apply it to the last case.\n" + "\n".join(lines)

    return _labels(_rows(*files), body, lambda r: _strip_label(_ideal(r), "ANSWER:"),
                   tuple("0123456789"), "Answer with a single digit.")


def build_product_matching() -> list[Item]:
    def body(r):
        return _msg(r).replace(" Answer with 'Yes' if they do and 'No' if they do not.", "")

    return _labels(_rows("product-matching/zeroshot/samples.jsonl"), body, lambda r: _ideal(r).lower(),
                   YES_NO, "Answer yes or no.")


def build_connect4() -> list[Item]:
    def body(r):
        board = _msg(r, "system").split("\n", 1)[1]
        return ("A 6-row, 7-column connect four board: 0 is empty, X and Y are the two players.\n"
                f"{board}\nWhich player has won?")

    return _labels(_rows("connect4/samples.jsonl"), body, _ideal, ("X", "Y", "draw"),
                   "Answer X, Y, or draw.")


def build_food() -> list[Item]:
    return _labels(_rows("food/samples.jsonl"), lambda r: _msg(r), lambda r: _ideal(r).lower(),
                   YES_NO, "Answer yes or no.")


def build_count_intersections() -> list[Item]:
    return _labels(_rows("count_intersections_polynomial/samples.jsonl"),
                   lambda r: f"Polynomial: {_msg(r)}\nHow many times does its graph cross the x-axis?",
                   _ideal, ("1", "2", "3"), "Answer with a single digit.")


def build_naughty_strings() -> list[Item]:
    return _labels(_rows("naughty_strings/samples.jsonl"), lambda r: _msg(r), lambda r: _ideal(r).lower(),
                   YES_NO, "Answer yes or no.")


def build_regex_match() -> list[Item]:
    def body(r):
        return _msg(r).replace(" Either answer with 'Yes.' or 'No.'", "")

    return _labels(_rows("regex-match/samples.jsonl"), body, lambda r: _strip_label(_ideal(r)),
                   YES_NO, "Answer yes or no.")


def build_unsolvable() -> list[Item]:
    def body(r):
        return f"{_msg(r)}\nCan the question be answered from the context alone?"

    return _labels(_rows("unsolvable_questions/samples.jsonl"), body,
                   lambda r: {"Solveable": "yes", "Unsolveable": "no"}.get(_ideal(r)), YES_NO,
                   "Answer yes or no.")


_BIAS = ("fact", "opinion", "claim", "argument", "data", "quote", "narrative", "sensationalism", "speculation")


def build_bias_detection() -> list[Item]:
    def body(r):
        lead = _msg(r, "system").split(" Please provide a reasoning")[0]
        return f"{lead}\nSentence: {_msg(r)}"

    return _labels(_rows("bias_detection/samples.jsonl"), body, lambda r: _strip_label(_ideal(r)), _BIAS,
                   "Answer with one category word.")


def build_physics_interaction() -> list[Item]:
    def body(r):
        lead = _msg(r, "system").split(' Respond only with')[0]
        return f"{lead}\n{_msg(r)}"

    return _labels(_rows("physics-interaction/samples.jsonl"), body, _ideal, ("left", "right"),
                   "Answer left or right.")


def build_dice_rotation() -> list[Item]:
    def body(r):
        lead = _msg(r, "system").split(" Your answer should only")[0]
        turns = []
        for m in r["input"][1:]:
            turns.append(m["content"].strip() if m["role"] == "user" else f"Answer: {m['content'].strip()}")
        return lead + "\n" + "\n".join(turns)

    return _labels(_rows("dice-rotation-sequence/samples.jsonl"), body, _ideal, tuple("123456"),
                   "Answer with the number on the front face.")


def build_pattern_foo_bar() -> list[Item]:
    def body(r):
        return _msg(r).replace(', and then answer with just "foo" or "bar"', "")

    return _labels(_rows("pattern_identification/samples.v0.jsonl"), body, _ideal, ("foo", "bar"),
                   "Answer foo or bar.")


def build_bigrams() -> list[Item]:
    def body(r):
        bigram = re.search(r"the bigram '(.*?)'", _msg(r, "system"))[1]
        return f"Sentence: {_msg(r)}\nHow many times does the letter pair '{bigram}' occur in this sentence?"

    return _labels(_rows("bigrams/samples.jsonl"), body, _ideal, tuple("012345"), "Answer with a number.")


def build_rectangles() -> list[Item]:
    def body(r):
        return ("Two rectangles are given as ([xMin, xMax], [yMin, yMax]).\n"
                f"{_msg(r)}\nDoes rectangle A contain rectangle B?")

    return _labels(_rows("rectangles/samples.jsonl"), body, lambda r: _ideal(r).lower(), YES_NO,
                   "Answer yes or no.")


def build_which_is_heavier() -> list[Item]:
    return _labels(_rows("which_is_heavier/which_is_heavier.jsonl"),
                   lambda r: _msg(r).removesuffix("Answer Yes or No").strip(), lambda r: _ideal(r).lower(),
                   YES_NO, "Answer yes or no.")


def build_gpt_text_detection() -> list[Item]:
    def body(r):
        return f"Text: {_msg(r)}\nWas this text generated by the GPT model text-davinci-001?"

    return _labels(_rows("GPT-model-text-detection/samples.jsonl"), body, lambda r: _strip_label(_ideal(r)),
                   YES_NO, "Answer yes or no.")


def _containers(story: str) -> tuple[str, ...]:
    # Theory-of-mind stories put objects "in the X" and move them "to the X".
    return tuple(dict.fromkeys(re.findall(r"(?:is in|to) the ([a-z_]+)", story)))


def _tom(path: str) -> list[Item]:
    items = []
    for r in _rows(path):
        story, answer = _msg(r), _ideal(r)
        options = _containers(story)
        if answer in options and len(options) >= 2 and _fits(story):
            items.append(label_item(story, "Answer with the container's name.", options, answer))
    return items


def build_tomi() -> list[Item]:
    return _tom("theory_of_mind/tomi/test.jsonl")


def build_hitom() -> list[Item]:
    return _tom("theory_of_mind/hitom/hitom.jsonl")


# -------------------------------------------------------------- multiple-choice tasks


def build_guess_the_singer() -> list[Item]:
    def parse(r):
        m = re.fullmatch(r"(?s)Text: (.*)\nChoices: (.*)", _msg(r))
        if not m:
            return None
        options = [o.strip() for o in m[2].split(",")]
        gold = _ideal(r)
        return (f"Song lyrics (the first words): {m[1].strip()}\nWho sings this song?",
                options, options.index(gold) if gold in options else -1)

    return _mc(_rows("guess_the_singer/samples.jsonl"), parse)


def build_parable_moral() -> list[Item]:
    pattern = re.compile(r"(?s)(.*)\nWhich moral.*?\n(A\) .*?)\nThe output should")

    def parse(r):
        m = pattern.match(_msg(r))
        if not m:
            return None
        options = re.split(r"\s*\b[B-E]\) ", m[2].removeprefix("A) "))
        gold = _ideal(r).removeprefix("The final answer is:").strip()
        if len(options) != 5 or gold not in "ABCDE":
            return None
        return f"Story: {m[1].strip()}\nWhich moral does this story convey?", options, "ABCDE".index(gold)

    return _mc(_rows("parable-to-moral-match/parable-to-moral-match-en.jsonl"), parse)


def _logiqa_option(text: str) -> str:
    return re.sub(r"^[A-D]\.\s*", "", text).strip()


def build_logiqa() -> list[Item]:
    def parse(r):
        out = _mc_lettered(r, clean=_logiqa_option)
        return out and (out[0].replace("Question:", "\nQuestion:", 1), out[1], out[2])

    return _mc(_rows("logiqa/logiqa.jsonl"), parse)


def build_fcc_amateur() -> list[Item]:
    return _mc(_rows("fcc_amateur_extra/samples.jsonl"),
               lambda r: _mc_lettered(r, lead="Amateur radio license exam question: "))


def build_us_tort_law() -> list[Item]:
    return _mc(_rows("us_tort_law/samples.jsonl"), lambda r: _mc_lettered(r, lead="US tort law question: "))


def build_jee_math() -> list[Item]:
    def parse(r):
        stem, letters, options = _lettered(_msg(r))
        m = re.search(r"\(([A-D])\)", _ideal(r))
        if letters != list("ABCD") or not m:
            return None
        return f"Math question: {stem}", options, letters.index(m[1])

    return _mc(_rows("jee-math/samples.jsonl"), parse)


def build_diagrammatic_logic() -> list[Item]:
    def parse(r):
        text = _msg(r)
        if "Possible Answers:" not in text:
            return None
        stem, answers = text.split("Possible Answers:", 1)
        opts = re.findall(r"^([A-D]) - (.*)$", answers, re.M)
        gold = _ideal(r)
        if [o[0] for o in opts] != list("ABCD") or gold not in "ABCD":
            return None
        lead = ("Work out the sequence that replaces '?'. Operators apply left to right; "
                "some effects must be worked out from the examples.")
        return f"{lead}\n{stem.strip()}", [o[1].strip() for o in opts], "ABCD".index(gold)

    return _mc(_rows("diagrammatic_logic/samples.jsonl"), parse)


def build_word_association() -> list[Item]:
    files = [f"word_association/related_words_{n}.jsonl" for n in (2, 3, 4, 5)]

    def parse(r):
        m = re.search(r"related words: \[(.*?)\]\. Here is a list of your options: \[(.*?)\]", _msg(r))
        if not m:
            return None
        options = [o.strip() for o in m[2].split(",")]
        gold = _strip_label(_ideal(r))
        return (f"Related words: {m[1]}\nWhich secret word is related to all of them?",
                options, options.index(gold) if gold in options else -1)

    return _mc(_rows(*files), parse)


# ----------------------------------------------------------------- open short answers


def build_binary_ops() -> list[Item]:
    items = _open(_rows("positive-binary-operations/samples.jsonl"),
                  lambda r: f"Binary numbers: {_msg(r)}\nWhat is the result, in decimal?", _ideal,
                  "Answer with a decimal number.")
    return items[:3000]


def build_recurrence() -> list[Item]:
    return _open(_rows("recurrence-relation/samples.jsonl"),
                 lambda r: f"Recurrence: {_msg(r)}\nWhat is its asymptotic runtime?",
                 lambda r: _ideal(r).strip("[]"), "Answer in the form n^k.")


def build_resistor_ohms() -> list[Item]:
    return _open(_rows("resistor_ohm_calculator/samples.jsonl"),
                 lambda r: ("A 4-band resistor has these color bands (two digits, multiplier, tolerance): "
                            f"{_msg(r)}\nWhat is its resistance in ohms?"), _ideal,
                 "Answer with a number.")


def build_date_to_text() -> list[Item]:
    return _open(_rows("imperial_date_to_string/samples.jsonl"),
                 lambda r: f"Date: {_msg(r)}\nWrite it as weekday, month day, year.", lambda r: _ideal(r).rstrip("."),
                 "Answer like: Monday, January 9, 2023")


def build_logical_counting() -> list[Item]:
    def body(r):
        return _msg(r, "system").replace(
            "Solve the following logical puzzle. Answer in number, no additional text is required in the response. ", "")

    return _open(_rows("logical_counting/samples.jsonl"), body, _ideal, "Answer with a number.")


def build_smiles_formula() -> list[Item]:
    return _open(_rows("smiles_to_formula/samples.jsonl"),
                 lambda r: f"SMILES: {_msg(r)}\nWhat is the molecular formula?", lambda r: _ideal(r).strip("[]"),
                 "Answer with the formula, e.g. C9H13NO3.")


def build_graph_reasoning() -> list[Item]:
    return _open(_rows("comprehensive-graph-reasoning/samples.jsonl"), lambda r: _msg(r).removesuffix("A:"), _ideal,
                 "Answer briefly, e.g. N_0, N_3, N_9 or 2 clusters or None.")


def build_integer_sequence() -> list[Item]:
    files = [f"integer-sequence-predictions/{f}.jsonl"
             for f in ("samples", "misc-and-recent-sequences", "notable-sequences", "obscure-sequences")]

    def body(r):
        m = re.search(r"Sequence: (\{.*\})", _msg(r))
        return m and f"Sequence: {m[1]}\nWhich number goes in place of the '?'?"

    return _open(_rows(*files), body, _ideal, "Answer with a number.")


def build_music_chords() -> list[Item]:
    files = ("music-theory/triads-samples.jsonl", "music-theory/tetrads-samples.jsonl")
    return _open(_rows(*files), lambda r: f"Notes: {_msg(r).replace(';', ', ')}\nWhich chord are these notes?",
                 lambda r: _ideal(r).rstrip("."), "Answer with the jazz chord symbol, e.g. D#m7.")


def build_numbers_game() -> list[Item]:
    def answer(r):
        m = re.search(r"\((\d+)\)", _ideal(r))
        return m and m[1]

    return _open(_rows("numbers_game/samples.jsonl"), lambda r: _msg(r), answer, "Answer with a number.")


def build_chinese_zodiac() -> list[Item]:
    def body(r):
        return ("Given the current year, a person's Chinese zodiac animal and their age range, "
                f"find their year of birth.\n{_msg(r)}")

    return _open(_rows("chinese_zodiac/samples.jsonl"), body, _ideal, "Answer with the 4-digit year.")


def build_determinant() -> list[Item]:
    return _open(_rows("determinant/samples.jsonl"), lambda r: f"Matrix: {_msg(r)}\nWhat is its determinant?",
                 _ideal, "Answer with the number to 2 decimals.")


def build_anagrams() -> list[Item]:
    return _open(_rows("anagrams/samples.jsonl"), lambda r: f"Letters: {_msg(r)}\nWhich word is an anagram of them?",
                 _ideal, "Answer with one word.")


def build_bitwise() -> list[Item]:
    return _open(_rows("bitwise/samples.jsonl"),
                 lambda r: f"Bitwise expression on unsigned integers: {_msg(r)}\nWhat is the result?", _ideal,
                 "Answer in binary, e.g. 0b00001100.")


def build_missing_name() -> list[Item]:
    def body(r):
        return ("List 1 has names as 'First Last', list 2 as 'Last First'. "
                f"Which name is in list 1 but not in list 2?\n{_msg(r)}")

    return _open(_rows("list_comparison_missing_name/samples.jsonl"), body, _ideal,
                 "Answer with the name as First Last.")


# ------------------------------------------------------------------------------ SPECS

SPECS: list[tuple] = [
    # NLI and text pairs
    ("corr2cause", "nli", "label", build_corr2cause),
    ("product_matching", "nli", "yes/no", build_product_matching),
    # style
    ("bias_detection", "sentiment/style", "label", build_bias_detection),
    ("gpt_text_detection", "sentiment/style", "yes/no", build_gpt_text_detection),
    # reading
    ("unsolvable_questions", "reading", "yes/no", build_unsolvable),
    ("parable_moral", "reading", "option text", build_parable_moral),
    ("tomi", "reading", "label", build_tomi),
    ("hitom", "reading", "label", build_hitom),
    # science / medical
    ("diabetes", "science/medical", "yes/no", build_diabetes),
    ("heart_disease", "science/medical", "yes/no", build_heart_disease),
    ("physics_interaction", "science/medical", "label", build_physics_interaction),
    ("fcc_amateur", "science/medical", "option text", build_fcc_amateur),
    ("resistor_ohms", "science/medical", "number", build_resistor_ohms),
    ("smiles_formula", "science/medical", "short phrase", build_smiles_formula),
    # commonsense
    ("food", "commonsense", "yes/no", build_food),
    ("which_is_heavier", "commonsense", "yes/no", build_which_is_heavier),
    ("crepe", "commonsense", "label", build_crepe),
    # knowledge
    ("guess_the_singer", "knowledge", "option text", build_guess_the_singer),
    ("us_tort_law", "knowledge", "option text", build_us_tort_law),
    ("chinese_zodiac", "knowledge", "number", build_chinese_zodiac),
    ("music_chords", "knowledge", "short phrase", build_music_chords),
    # math
    ("binary_ops", "math", "number", build_binary_ops),
    ("determinant", "math", "number", build_determinant),
    ("recurrence", "math", "short phrase", build_recurrence),
    ("count_intersections", "math", "label", build_count_intersections),
    ("jee_math", "math", "option text", build_jee_math),
    ("numbers_game", "math", "number", build_numbers_game),
    ("integer_sequence", "math", "number", build_integer_sequence),
    ("logical_counting", "math", "number", build_logical_counting),
    ("rectangles", "math", "yes/no", build_rectangles),
    # logic
    ("formal_logic", "logic", "label", build_formal_logic),
    ("pararule", "logic", "label", build_pararule),
    ("abstract_causal", "logic", "label", build_abstract_causal),
    ("pointer_value", "logic", "label", build_pointer_value),
    ("diagrammatic_logic", "logic", "option text", build_diagrammatic_logic),
    ("connect4", "logic", "label", build_connect4),
    ("poker_hands", "logic", "label", build_poker_hands),
    ("poker_winner", "logic", "label", build_poker_winner),
    ("backgammon_hit", "logic", "label", build_backgammon_hit),
    ("backgammon_illegal", "logic", "label", build_backgammon_illegal),
    ("dice_rotation", "logic", "label", build_dice_rotation),
    ("pattern_foo_bar", "logic", "label", build_pattern_foo_bar),
    ("graph_reasoning", "logic", "short phrase", build_graph_reasoning),
    ("logiqa", "logic", "option text", build_logiqa),
    # strings
    ("syllables", "strings", "label", build_syllables),
    ("bigrams", "strings", "label", build_bigrams),
    ("anagrams", "strings", "short phrase", build_anagrams),
    ("word_association", "strings", "option text", build_word_association),
    ("date_to_text", "strings", "short phrase", build_date_to_text),
    ("missing_name", "strings", "short phrase", build_missing_name),
    # code
    ("regex_match", "code", "yes/no", build_regex_match),
    ("naughty_strings", "code", "yes/no", build_naughty_strings),
    ("bitwise", "code", "short phrase", build_bitwise),
]
