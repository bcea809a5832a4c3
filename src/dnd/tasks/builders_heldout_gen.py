"""`heldout` tasks from procedural generators no other task uses: reasoning-gym and
DeepMind's mathematics_dataset (see `dnd.tasks.builders_heldout` for the suite).

Sources:
  reasoning-gym 0.1.25      zebra_puzzles, knights_knaves, isomorphic_strings, ransom_note,
                            palindrome_generation (builders_rg.DROPPED left them out of `wide`)
  mathematics_dataset 1.0.1 comparison pair / closest / kth_biggest, numbers is_factor /
                            place_value (the plain modules; never the *_composed ones)

Every task draws a fixed number of items with a fixed seed (zebra_puzzles 160 puzzles of
4 people and 3 characteristics, half the time of its default 4 x 4; the others 300), so a
build is the same in every process. Two generators needed help for that:
  - isomorphic_strings and ransom_note pick letters from a Python set, whose order depends
    on the hash seed: their `letters` set is replaced by one that iterates in sorted order
    (`_Sorted`), which makes them reproducible with no other change;
  - mathematics_dataset draws from the global `random` and `numpy.random` generators: they
    are seeded before a task's draws and restored afterwards. Its import needs one name that
    sympy 1.14 moved (`base_solution_linear`), set back where the package looks (`_import_md`).

Answers all come with options: a fixed label set (True/False, the digits) or options read
from the item (the names a zebra puzzle lists, the values a comparison lists, the four
knight/knave assignments of two people). palindrome_generation gets options built from its
answer: the gold palindrome and up to three strings made by swapping two of its letters that
are not palindromes, so exactly one option is a palindrome (its own DROPPED reason was
that a letter set often has several palindromes and only one is the gold answer).

Dropped, and why:
  numbers__is_prime and every *_composed module: not reproducible even under a fixed hash
      seed (they differ between two runs of the same process);
  number_sequence (basic_pattern, integer_sequence), arithmetic__*, gcd, lcm, base
      conversion, prime factors, linear equations, sequence next term, time, probability:
      near-duplicates of `wide` tasks;
  coin_flip, polynomial_equations, div_remainder, round_number, measurement conversion,
      nearest_integer_root, polynomials__evaluate: numeric answers with no options in the data.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import random
import re
import sys

from dnd.tasks import builders_rg
from dnd.tasks.builders import keep, label_item, mc_item, seeded_rng
from dnd.tasks.items import Item
from dnd.tasks.sources import MissingDataError

SEED = builders_rg.SEED
TRUE_FALSE = ("True", "False")

# ----------------------------------------------------------------------- reasoning-gym


class _Sorted(set):
    """A set that iterates (and so lists) in sorted order, also after `-`."""

    def __iter__(self):
        return iter(sorted(set.__iter__(self)))

    def __sub__(self, other):
        return _Sorted(set(self).difference(other))


def _rg_rows(generator: str, n: int, **config) -> list[dict]:
    data = builders_rg.dataset(generator, n, SEED, **config)
    if isinstance(getattr(data, "letters", None), set):
        data.letters = _Sorted(data.letters)
    with contextlib.redirect_stdout(io.StringIO()):
        return [data[i] for i in range(n)]


def build_zebra() -> list[Item]:
    items = []
    for r in _rg_rows("zebra_puzzles", 160, num_people=4, num_characteristics=3):
        names = re.search(r"Each person has a unique name: (.*)", r["question"])
        stem = r["question"].replace(" Provide only the name of the person as your final answer.", "")
        options = names[1].strip().split(", ") if names else []
        if r["answer"] in options:
            items.append(mc_item(stem.replace("??", "?"), options, options.index(r["answer"])))
    return keep(items)


def build_knights_knaves() -> list[Item]:
    # Options: the four assignments of the two people, written as the generator writes its answer.
    items = []
    for r in _rg_rows("knights_knaves", 300):
        meta = r["metadata"]
        names, terms = [str(x) for x in meta["names"]], meta["knight_knave_terms"]
        if len(names) != 2:
            continue
        roles = (str(terms["a_knight"]), str(terms["a_knave"]))
        options = [f"{names[0]} is {a}, and {names[1]} is {b}." for a in roles for b in roles]
        stem = re.sub(r"\s*\(Format your answer like:.*\)\s*$", "", r["question"].strip(), flags=re.S)
        if r["answer"] in options:
            items.append(mc_item(stem, options, options.index(r["answer"])))
    return keep(items)


def _true_false(generator: str) -> list[Item]:
    return [label_item(r["question"], "Answer True or False.", TRUE_FALSE, str(r["answer"]))
            for r in _rg_rows(generator, 300) if str(r["answer"]) in TRUE_FALSE]


def build_isomorphic_strings() -> list[Item]:
    return _true_false("isomorphic_strings")


def build_ransom_note() -> list[Item]:
    return _true_false("ransom_note")


def _non_palindromes(gold: str, k: int = 3) -> list[str]:
    """Up to `k` strings made from `gold` by swapping two of its letters, none a palindrome."""
    rng, out = seeded_rng("palindrome:" + gold), []
    pairs = [(i, j) for i in range(len(gold)) for j in range(i + 1, len(gold)) if gold[i] != gold[j]]
    rng.shuffle(pairs)
    for i, j in pairs:
        s = list(gold)
        s[i], s[j] = s[j], s[i]
        s = "".join(s)
        if s != s[::-1] and s not in out:
            out.append(s)
        if len(out) == k:
            break
    return out


def build_palindrome_pick() -> list[Item]:
    items = []
    for r in _rg_rows("palindrome_generation", 300):
        gold, letters = r["answer"], r["metadata"]["letters"]
        others = _non_palindromes(gold)
        if gold != gold[::-1] or sorted(gold) != sorted(letters) or not others:
            continue
        stem = (f"Letters: {', '.join(letters)}\nWhich option uses all of these letters and reads the same "
                "forwards and backwards (a palindrome)?")
        options = sorted([gold, *others])
        items.append(mc_item(stem, options, options.index(gold)))
    return keep(items)


# ----------------------------------------------------------------- mathematics_dataset

MD_ITEMS = 300


def _import_md():
    """mathematics_dataset's `modules` package, imported under sympy 1.14."""
    if importlib.util.find_spec("mathematics_dataset") is None:
        raise MissingDataError("data package 'mathematics_dataset' is not installed "
                               "(pip install --no-deps -r requirements-assets.txt)")
    import sympy.solvers.diophantine  # noqa: F401  (the package; its name is shadowed by a function)

    dioph = sys.modules["sympy.solvers.diophantine"]
    if not hasattr(dioph, "base_solution_linear"):
        dioph.base_solution_linear = importlib.import_module(
            "sympy.solvers.diophantine.diophantine").base_solution_linear
    from mathematics_dataset.modules import comparison, numbers

    return {"comparison": comparison, "numbers": numbers}


def _md_problems(module: str, name: str, seed: int, n: int = MD_ITEMS) -> list[tuple[str, str]]:
    """(question, answer) of `n` problems of module `name`, drawn under `seed`; the global
    generators it draws from are left as they were."""
    import numpy as np

    generate = _import_md()[module].train(lambda entropy: entropy)[name]
    saved = random.getstate(), np.random.get_state()
    try:
        random.seed(seed)
        np.random.seed(seed)
        problems = [generate() for _ in range(n)]
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
    return [(str(p.question).strip(), str(p.answer).strip()) for p in problems]


_LETTERED = re.compile(r"\s+\(([a-z])\)\s+")


def _listed_values(question: str, answer: str):
    """(stem, values, gold) of a question that lists values: lettered ("Which is the nearest
    to 0?  (a) -2/7  (b) 1", answer "a") or inline ("... in -52, 31, 2?", answer "2")."""
    parts = _LETTERED.split(question)
    if len(parts) > 3:
        letters, values = parts[1::2], [v.strip() for v in parts[2::2]]
        return (parts[0], values, letters.index(answer)) if answer in letters else None
    m = re.fullmatch(r"(.* in )(.*)\?", question)
    values = m[2].split(", ") if m else []
    return (question, values, values.index(answer)) if answer in values else None


def _md_listed(name: str, seed: int) -> list[Item]:
    parsed = (_listed_values(q, a) for q, a in _md_problems("comparison", name, seed))
    return keep(mc_item(*p) for p in parsed if p is not None)


def build_closest_value() -> list[Item]:
    return _md_listed("closest", 1)


def build_kth_biggest() -> list[Item]:
    return _md_listed("kth_biggest", 2)


def build_compare_pair() -> list[Item]:
    # "Which is bigger: a or b?" (options a and b) or "Is a < b?" (options True and False).
    items = []
    for q, a in _md_problems("comparison", "pair", 3):
        m = re.fullmatch(r"Which is (?:bigger|greater|smaller): (.+) or (.+)\?", q)
        options = [m[1], m[2]] if m else list(TRUE_FALSE)
        if a in options:
            items.append(mc_item(q, options, options.index(a)))
    return keep(items)


def build_is_factor() -> list[Item]:
    return [label_item(q, "Answer True or False.", TRUE_FALSE, a)
            for q, a in _md_problems("numbers", "is_factor", 4) if a in TRUE_FALSE]


def build_place_value() -> list[Item]:
    digits = tuple("0123456789")
    return [label_item(q, "Answer with one digit.", digits, a)
            for q, a in _md_problems("numbers", "place_value", 5) if a in digits]
