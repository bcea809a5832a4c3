"""Wide-suite tasks from OpenAI evals data files (`evals==3.0.1.post1`, read, never imported).

SPECS lists (name, domain, answer_format, build) for the registry. The builders live in
`builders_evals_labels` (closed label sets) and `builders_evals_text` (stories, multiple
choice, open short answers); `evals_rows` reads and shapes the rows.

Each evals row is {"input": [chat messages], "ideal": answer}. The test files are the
`samples_jsonl` files named in evals/registry/evals/*.yaml (never the few-shot files).
Prompts follow `dnd.tasks.builders`: the task text (system and user contents, rewritten
where the original asks for step-by-step reasoning, letters or an output template that
conflicts with a short answer) ending in a one-line instruction; answers are a label word,
yes/no, a number, a short phrase or an option's own text. Lettered multiple-choice
folders are rewritten into option texts (the options are in the prompt); `choices` is the
label set wherever the answer set is closed. Items with very long prompts or long open
answers are skipped (limits in `evals_rows`).

Two folders are huge (formal_logic 215k rows, diabetes 288k rows): only their first
few thousand rows are read (file order mixes the labels), which keeps a build fast.

DROPPED lists the usable-looking English folders left out and why; beyond those, every
non-English folder (the *-exams-qa, *-lexicon, ukraine_*, belarusian_*, japanese_*,
chinese characters, french/german part-of-speech, parable zh, lat_long_identify whose
answers are country names in local scripts) is left out, as are folders with long or
structured answers (see the data census).
"""

from __future__ import annotations

from dnd.tasks import builders_evals_labels as lab
from dnd.tasks import builders_evals_text as t

DROPPED: dict[str, str] = {
    "sarcasm": "already the `sarcasm` task (short suite)",
    "quartz": "already the `quartz` task (short suite)",
    "abstract-causal-reasoning/symbolic_samples": "the same puzzles as the text file in symbols (duplicate)",
    "theory_of_mind/socialiqa": "duplicates the `social_iqa` task, lettered",
    "theory_of_mind/hitom-multiple-choice": "the hitom stories again, lettered (duplicate)",
    "product-matching/fewshot, rules": "the same 433 pairs as zeroshot with longer prompts (duplicate)",
    "benjaminmoore_to_hex, pantone_to_hex, ral_to_hex": "hex codes of named paints: a lookup that no eval "
    "item can learn from train items",
    "mapping_to_matricies": "answers are JSON structures",
    "css-selectors": "57-114 items per file, too few",
    "stock_options": "8-12 items per file, mixed question types",
    "music_theory_scale_modes": "161 unique items, too few (and the scale names are aliases)",
    "chess_piece_count": "190 unique items, too few",
    "logiqa-logical-reasoning-plus": "its 'plus' files replace the correct option by 'None of the other "
    "options are correct' (the answer of every item: degenerate); the `logiqa` task uses the logiqa folder",
    "sindarin_fluency": "not English (Sindarin)",
    "naughty_strings/security": "no ideal answers",
    # Labels checked by recomputing them (determinant, binary operations, dates, resistor
    # codes, recurrences, weights, connect-four wins and foo/bar agree on every item):
    "bitwise": "labels inconsistent: 264 of 338 answers follow left-to-right evaluation, 159 standard "
    "operator precedence, and some neither",
    "count_intersections_polynomial": "labels wrong: 302 of 500 disagree with the cubic's real root count",
    "rectangles": "labels match neither containment (128/200) nor overlap (122/200)",
}


# ------------------------------------------------------------------------------ SPECS

SPECS: list[tuple] = [
    # NLI and text pairs
    ("corr2cause", "nli", "label", lab.build_corr2cause),
    ("product_matching", "nli", "yes/no", lab.build_product_matching),
    # style
    ("bias_detection", "sentiment/style", "label", lab.build_bias_detection),
    ("gpt_text_detection", "sentiment/style", "yes/no", lab.build_gpt_text_detection),
    # reading
    ("unsolvable_questions", "reading", "yes/no", lab.build_unsolvable),
    ("parable_moral", "reading", "option text", t.build_parable_moral),
    ("tomi", "reading", "label", t.build_tomi),
    ("hitom", "reading", "label", t.build_hitom),
    # science / medical
    ("diabetes", "science/medical", "yes/no", lab.build_diabetes),
    ("heart_disease", "science/medical", "yes/no", lab.build_heart_disease),
    ("physics_interaction", "science/medical", "label", lab.build_physics_interaction),
    ("fcc_amateur", "science/medical", "option text", t.build_fcc_amateur),
    ("resistor_ohms", "science/medical", "number", t.build_resistor_ohms),
    ("smiles_formula", "science/medical", "final answer", t.build_smiles_formula),
    # commonsense
    ("food", "commonsense", "yes/no", lab.build_food),
    ("which_is_heavier", "commonsense", "yes/no", lab.build_which_is_heavier),
    ("crepe", "commonsense", "label", lab.build_crepe),
    # knowledge
    ("guess_the_singer", "knowledge", "option text", t.build_guess_the_singer),
    ("us_tort_law", "knowledge", "option text", t.build_us_tort_law),
    ("chinese_zodiac", "knowledge", "number", t.build_chinese_zodiac),
    ("music_chords", "knowledge", "final answer", t.build_music_chords),
    # math
    ("binary_ops", "math", "number", t.build_binary_ops),
    ("determinant", "math", "number", t.build_determinant),
    ("recurrence", "math", "final answer", t.build_recurrence),
    ("jee_math", "math", "option text", t.build_jee_math),
    ("numbers_game", "math", "number", t.build_numbers_game),
    ("integer_sequence", "math", "number", t.build_integer_sequence),
    ("logical_counting", "math", "number", t.build_logical_counting),
    # logic
    ("formal_logic", "logic", "label", lab.build_formal_logic),
    ("pararule", "logic", "label", lab.build_pararule),
    ("abstract_causal", "logic", "label", lab.build_abstract_causal),
    ("pointer_value", "logic", "label", lab.build_pointer_value),
    ("diagrammatic_logic", "logic", "option text", t.build_diagrammatic_logic),
    ("connect4", "logic", "label", lab.build_connect4),
    ("poker_hands", "logic", "label", lab.build_poker_hands),
    ("poker_winner", "logic", "label", lab.build_poker_winner),
    ("backgammon_hit", "logic", "label", lab.build_backgammon_hit),
    ("backgammon_illegal", "logic", "label", lab.build_backgammon_illegal),
    ("dice_rotation", "logic", "label", lab.build_dice_rotation),
    ("pattern_foo_bar", "logic", "label", lab.build_pattern_foo_bar),
    ("graph_reasoning", "logic", "final answer", t.build_graph_reasoning),
    ("logiqa", "logic", "option text", t.build_logiqa),
    # strings
    ("syllables", "strings", "label", lab.build_syllables),
    ("bigrams", "strings", "label", lab.build_bigrams),
    ("anagrams", "strings", "final answer", t.build_anagrams),
    ("word_association", "strings", "option text", t.build_word_association),
    ("date_to_text", "strings", "final answer", t.build_date_to_text),
    ("missing_name", "strings", "final answer", t.build_missing_name),
    # code
    ("regex_match", "code", "yes/no", lab.build_regex_match),
    ("naughty_strings", "code", "yes/no", lab.build_naughty_strings),
]
