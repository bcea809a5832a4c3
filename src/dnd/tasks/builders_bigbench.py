"""The `unseen` suite: BIG-bench JSON tasks, for evaluation only.

SPECS lists (name, domain, answer_format, build) for the registry, which puts every task in
suite `unseen` with eval_only=CANARY: no LoRA, zoo, generator or multi-task adapter may
ever train on them. Their train pools serve only as condition prompts, ICL shots and the
full-shot reference.

Data. The task.json files of `bigbench==1.0.0`, cached by `python -m dnd.tasks.bigbench_fetch`
(run by `make setup`; see that module) and read through dnd.tasks.bigbench_cache. Without the cache, building a task raises
MissingDataError saying how to fetch it.

Items. Every task here is a multiple-choice task in BIG-bench's JSON format: an example is
an `input` and `target_scores` {option text: score}. The answer is the option with score 1;
the rest follow builders.py's conventions:
  - a task whose options are the same few labels in every example (of one task.json file)
    becomes a label task: the prompt ends with "Answer X, Y or Z." (`label_item`);
  - otherwise the options are listed under the stem in an order shuffled by a seed derived
    from the prompt (BIG-bench often puts the correct option first or last) and the
    prompt ends with "Answer with the correct option's text." (`mc_item`);
  - options written as letters (hyperbaton's "a"/"b") are replaced by the texts they stand
    for; label words are lower-cased ("True" -> "true", "Valid" -> "valid"), and
    "Yes."/"True" become yes/no where the question is a yes/no question;
  - the task_prefix (the task's instructions) leads the prompt where it is short (all
    kept prefixes are under 700 characters); the example_output_prefix, where it carries
    the question, becomes the question line.
Examples are dropped (counted by `python -m dnd.tasks.bigbench_fetch --report`) when
  - no option or several options have score 1 (`not one correct`),
  - two options have the same text after whitespace is collapsed (`duplicate options`),
  - the prompt is longer than MAX_PROMPT_CHARS (`too long`),
  - a task's own rule says so (`other`; see the task's note).
A task keeps at most MAX_ITEMS items: those first in the registry's SHA-256 order of
prompts, so the pools are the same as with every item while building stays fast.

Tasks left out of the census's candidates (78 MC tasks with short options) and why:
  fewer than 200 usable examples (snarks, penguins_in_a_table, hindu_knowledge, ...);
  fewer than 350 examples, so an eval pool under 140 items under the registry's 40% rule,
  where the domain has larger tasks (fantasy_reasoning, moral_permissibility,
  anachronisms, misconceptions, disambiguation_qa: spares, readable with the rules here);
  not English (multiemo non-English, kannada, parsinlu_qa, hinglish_toxicity, ...);
  the same data as a training task (social_iqa: the `wide` suite trains on Social IQa);
  options too many to list (dyck_languages 84, checkmate_in_one 40, periodic_elements 118);
  options long sentences or paragraphs (abstract_narrative_understanding,
  discourse_marker_prediction, question_selection, goal_step_wikihow step tasks,
  hhh_alignment, authorship_verification, which_wiki_edit);
  inputs too long (minute_mysteries_qa: median 6,600 characters);
  images as text (mnist_ascii, cifar10_classification, intersect_geometry);
  near-copies of a kept task (multiemo *_text_en: the whole reviews whose sentences
  bb_multiemo already holds; elementary_math_qa's hint subtasks: the same problems).
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from dnd.tasks.bigbench_cache import bigbench_dir, read_task_json
from dnd.tasks.builders import label_item, mc_item, one_line
from dnd.tasks.items import Item, dedupe, prompt_key

CANARY = "BIG-bench data carries a canary asking that it never be used for training"
EVAL_SIZE = 300
MAX_PROMPT_CHARS = 3000
MAX_ITEMS = 6000

YES_NO = {"Yes": "yes", "No": "no", "Yes.": "yes", "No.": "no", "True": "yes", "False": "no"}
TRUE_FALSE = {"True": "true", "False": "false", "T": "true", "F": "false"}
VALID = {"Valid": "valid", "Invalid": "invalid"}
NUMBER_WORDS = set(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen".split()
)

COMPLETE = "Which option completes the sentence?"
FILE_LEAD = "<the file's example_input_prefix>"
Convert = Callable[[str, dict], "tuple[str, dict] | None"]


@dataclass(frozen=True)
class BBTask:
    """How one unseen task is read from its task.json file(s).

    files     task (or task/subtask) folders; subtasks are pooled into one task
    prefix    text before every input; None = the file's task_prefix
    lead      text put right before the input (e.g. "Sentence: "); FILE_LEAD: the file's own
    question  a line after the input (the question the output prefix asked)
    rename    option text -> the text used as choice and answer
    convert   (input, target_scores) -> the same, rewritten; None drops the example
    note      what was dropped and why, beyond the common rules
    """

    name: str
    domain: str
    answer_format: str
    files: tuple[str, ...]
    prefix: str | None = None
    lead: str = ""
    question: str = ""
    rename: dict = field(default_factory=dict)
    convert: Convert | None = None
    note: str = ""


# ------------------------------------------------------------------- task-specific rules


def _hyperbaton(text: str, scores: dict):
    # 'Which sentence has the correct adjective order: a " X " b " Y " ?' -> the options X, Y.
    m = re.fullmatch(r'Which sentence has the correct adjective order: a " (.+?) " b " (.+?) " \?', text.strip())
    if m is None or set(scores) != {"a", "b"}:
        return None
    return "Which phrase has the correct adjective order?", {m[1]: scores["a"], m[2]: scores["b"]}


def _fallacy(text: str, scores: dict):
    # Each statement comes twice, under two lead-ins; both are cut so the copies merge.
    for lead in (
        "This AI is identifying whether statements contain fallacies. The AI responds with 'Valid' or 'Invalid' as appropriate. ",
        "Do you think the following argument is 'Valid' or 'Invalid'? ",
    ):
        if text.startswith(lead):
            return "Argument: " + text[len(lead):], scores
    return None


def _colored_objects(text: str, scores: dict):
    # Counting questions list every count twice ('3' and 'three', both correct): keep digits.
    return text, {k: v for k, v in scores.items() if k not in NUMBER_WORDS}


def _language_id(text: str, scores: dict):
    # ~100 inputs are fragments such as '(-)' or '+', with no text to identify.
    return (text, scores) if len(re.findall(r"\w", text)) >= 10 else None


def _metaphor(text: str, scores: dict):
    # 'A <--> B': a metaphoric sentence and a candidate paraphrase.
    first, sep, second = text.partition("<-->")
    return (f"Sentence 1: {first.strip()}\nSentence 2: {second.strip()}", scores) if sep else None


def _movie_dialog(text: str, scores: dict):
    # ~800 examples ask about "sentences" without a letter (e.g. "." and "."): dropped.
    m = re.search(r'were the sentences "(.*)" and "(.*)"\s*$', text, re.S)
    if m is None or not all(re.search(r"[A-Za-z]", s) for s in (m[1], m[2])):
        return None
    return text.rstrip() + " said by the same or different individuals?", scores


def _strip_answer_cue(text: str, scores: dict):
    return re.sub(r"\s*The answer is:\s*$", "", text), scores


def _bbq_files() -> tuple[str, ...]:
    cats = "age disability_status gender_identity nationality physical_appearance race_ethnicity religion ses sexual_orientation"
    return tuple(f"bbq_lite_json/{c}_{kind}" for c in cats.split() for kind in ("ambig", "disambig"))


def _subtasks(task: str, names: str) -> tuple[str, ...]:
    return tuple(f"{task}/{n}" for n in names.split())


_ARITH = _subtasks(
    "arithmetic", " ".join(f"{d}_digit_{op}" for d in range(1, 6) for op in ("addition", "subtraction", "multiplication", "division"))
)

TASKS: list[BBTask] = [
    # ---------------------------------------------------------------- nli
    BBTask("bb_vitaminc_fact_verification", "nli", "label", ("vitaminc_fact_verification",),
           lead="Passage: ", question="Is the claim true, false, or neither?", rename={"Neither": "neither", **TRUE_FALSE}),
    BBTask("bb_presuppositions_as_nli", "nli", "label", ("presuppositions_as_nli",), convert=_strip_answer_cue),
    BBTask("bb_epistemic_reasoning", "nli", "label", ("epistemic_reasoning",)),
    BBTask("bb_implicatures", "nli", "yes/no", ("implicatures",), prefix="",
           question="Does Speaker 2's answer mean yes or no?"),
    BBTask("bb_metaphor_boolean", "nli", "yes/no", ("metaphor_boolean",), prefix="", convert=_metaphor,
           question="Is the second sentence a correct paraphrase of the first?", rename=YES_NO),
    # ---------------------------------------------------------------- reading
    BBTask("bb_contextual_parametric_knowledge_conflicts", "reading", "option text",
           ("contextual_parametric_knowledge_conflicts",),
           prefix="Answer the question, assuming the context is true."),
    BBTask("bb_movie_dialog_same_or_different", "reading", "label", ("movie_dialog_same_or_different",), prefix="",
           lead="The following is a conversation between two people, but the transcript doesn't mark who said what: ",
           convert=_movie_dialog, note="questions about 'sentences' with no letter in them dropped ('other')"),
    BBTask("bb_play_dialog_same_or_different", "reading", "label", ("play_dialog_same_or_different",), lead="Dialogue:\n"),
    BBTask("bb_bbq_lite", "reading", "option text", _bbq_files(),
           note="all 18 bbq_lite_json subtasks (9 bias categories, ambiguous and disambiguated contexts) pooled"),
    # ---------------------------------------------------------------- sentiment/style
    BBTask("bb_multiemo", "sentiment/style", "label", ("multiemo/all_sentence_en",),
           prefix="Is the sentiment of the following opinion positive, negative, neutral or ambivalent?",
           note="English sentence-level subset (hotels, medicine, products, reviews); other languages left out"),
    BBTask("bb_intent_recognition", "sentiment/style", "label", ("intent_recognition",)),
    BBTask("bb_social_support", "sentiment/style", "label", ("social_support",),
           prefix="Is the following reply unsupportive, neutral, or supportive?", lead="Reply: "),
    # ---------------------------------------------------------------- commonsense
    BBTask("bb_winowhy", "commonsense", "label", ("winowhy",), question="Is the above reasoning correct or incorrect?"),
    BBTask("bb_timedial", "commonsense", "option text", ("timedial",)),
    BBTask("bb_goal_step_wikihow", "commonsense", "option text", ("goal_step_wikihow/goal_inference",), question=COMPLETE,
           note="goal_inference subtask only (the step subtasks have sentence-long options)"),
    BBTask("bb_sports_understanding", "commonsense", "label", ("sports_understanding",),
           prefix="Is the following statement plausible or implausible?", lead="Statement: "),
    BBTask("bb_date_understanding", "commonsense", "option text", ("date_understanding",)),
    # ---------------------------------------------------------------- knowledge
    BBTask("bb_strategyqa", "knowledge", "yes/no", ("strategyqa",), rename=YES_NO),
    BBTask("bb_fact_checker", "knowledge", "label", _subtasks("fact_checker", "fever politifact covid19_scientific"),
           note="fever, politifact and covid19_scientific pooled (claims without evidence: world knowledge)"),
    BBTask("bb_movie_recommendation", "knowledge", "option text", ("movie_recommendation",), lead="Find a movie similar to "),
    BBTask("bb_color", "knowledge", "label", _subtasks("color", "hex rgb hsl hcl"),
           note="the four colour encodings (hex, rgb, hsl, hcl) pooled"),
    # ---------------------------------------------------------------- science/medical
    BBTask("bb_physics", "science/medical", "option text", ("physics",)),
    # ---------------------------------------------------------------- math
    BBTask("bb_arithmetic", "math", "option text", _ARITH, note="all 20 subtasks (1-5 digits, four operations) pooled"),
    BBTask("bb_elementary_math_qa", "math", "option text", ("elementary_math_qa/question_only",),
           lead="What is the answer to the following math word problem?\n",
           note="question_only subtask (the hint subtasks repeat the same problems)"),
    BBTask("bb_unit_conversion", "math", "option text",
           _subtasks("unit_conversion", "si_conversion different_systems chained_conversion novel_systems unit_identification"),
           question=COMPLETE, note="the five multiple-choice subtasks pooled"),
    # ---------------------------------------------------------------- logic
    BBTask("bb_formal_fallacies_syllogisms_negation", "logic", "label", ("formal_fallacies_syllogisms_negation",)),
    BBTask("bb_logical_fallacy_detection", "logic", "label", ("logical_fallacy_detection",),
           prefix="Is the following argument logically valid or invalid?", rename=VALID, convert=_fallacy,
           note="every statement appears under two lead-ins; both are cut, so the copies merge into one item"),
    BBTask("bb_logical_deduction", "logic", "option text", _subtasks("logical_deduction", "three_objects five_objects seven_objects"),
           question="Which statement is true?"),
    BBTask("bb_tracking_shuffled_objects", "logic", "option text",
           _subtasks("tracking_shuffled_objects", "three_objects five_objects seven_objects"), question=COMPLETE),
    BBTask("bb_navigate", "logic", "yes/no", ("navigate",), rename=YES_NO),
    BBTask("bb_logic_grid_puzzle", "logic", "option text", ("logic_grid_puzzle",)),
    BBTask("bb_temporal_sequences", "logic", "option text", ("temporal_sequences",)),
    BBTask("bb_reasoning_about_colored_objects", "logic", "option text", ("reasoning_about_colored_objects",),
           convert=_colored_objects, note="counting questions keep the digit options and drop the number words"),
    BBTask("bb_symbol_interpretation", "logic", "option text",
           _subtasks("symbol_interpretation", "plain adversarial tricky emoji_agnostic name_agnostic")),
    # ---------------------------------------------------------------- strings
    BBTask("bb_hyperbaton", "strings", "option text", ("hyperbaton",), convert=_hyperbaton,
           note="the options 'a'/'b' are replaced by the two phrases they name"),
    BBTask("bb_ruin_names", "strings", "option text", ("ruin_names",)),
    BBTask("bb_salient_translation_error_detection", "strings", "label", ("salient_translation_error_detection",)),
    BBTask("bb_language_identification", "strings", "option text", ("language_identification",),
           lead="Sentence: ", convert=_language_id, note="inputs with fewer than 10 letters or digits dropped ('other')"),
    # ---------------------------------------------------------------- code
    BBTask("bb_cs_algorithms", "code", "label", _subtasks("cs_algorithms", "valid_parentheses lcs"),
           lead=FILE_LEAD, rename=VALID, note="valid_parentheses and lcs (longest common subsequence length) pooled"),
    BBTask("bb_geometric_shapes", "code", "label", ("geometric_shapes",),
           note="SVG paths; 72 examples where both 'circle' and 'ellipse' score 1 are dropped (not one correct)"),
]

# ------------------------------------------------------------------------------ building

STATS: dict[str, Counter] = {}


def _instruction(labels: tuple[str, ...]) -> str:
    if len(labels) <= 4:
        return f"Answer {', '.join(labels[:-1])} or {labels[-1]}."
    return f"Answer with one of: {', '.join(labels)}."


def _join(*parts: str) -> str:
    return "\n".join(p.strip() for p in parts if p and p.strip())


def _rows(task: BBTask, file: str, stats: Counter) -> list[tuple[str, tuple[str, ...], str]]:
    """(body, options, answer) rows of one task.json file; `stats` counts what was dropped."""
    data = read_task_json(file)
    prefix = data.get("task_prefix", "") if task.prefix is None else task.prefix
    lead = data.get("example_input_prefix", "").lstrip() if task.lead == FILE_LEAD else task.lead
    rows = []
    for ex in data.get("examples", []):
        stats["examples"] += 1
        text, scores = ex.get("input", ""), ex.get("target_scores")
        if not isinstance(scores, dict) or not isinstance(text, str):
            stats["other"] += 1
            continue
        if task.convert is not None:
            converted = task.convert(text, scores)
            if converted is None:
                stats["other"] += 1
                continue
            text, scores = converted
        options = [one_line(task.rename.get(k.strip(), k)) for k in scores]
        correct = [o for o, v in zip(options, scores.values()) if v == 1]
        if len(correct) != 1:
            stats["not one correct"] += 1
            continue
        if "" in options or len(set(options)) < len(options):
            stats["duplicate options"] += 1
            continue
        body = _join(prefix, lead + text.strip(), task.question)
        if len(body) > MAX_PROMPT_CHARS:
            stats["too long"] += 1
            continue
        rows.append((body, tuple(options), correct[0]))
    return rows


def _items(task: BBTask, stats: Counter) -> list[Item]:
    items: list[Item] = []
    for file in task.files:
        rows = _rows(task, file, stats)
        label_sets = {frozenset(opts) for _, opts, _ in rows}
        if len(label_sets) == 1:  # the same few labels everywhere: a label task
            labels = rows[0][1] if label_sets != {frozenset(("yes", "no"))} else ("yes", "no")
            items += [label_item(body, _instruction(labels), labels, answer) for body, _, answer in rows]
            continue
        for body, opts, answer in rows:
            order = list(opts)
            random.Random(hashlib.sha256(body.encode("utf-8")).hexdigest()).shuffle(order)
            items.append(mc_item(body, order, order.index(answer)))
    return [it for it in items if it is not None]


@functools.lru_cache(maxsize=None)
def _build(name: str, root: str) -> tuple[Item, ...]:
    task = _BY_NAME[name]
    stats = Counter()
    items = dedupe(_items(task, stats))
    stats["items"] = len(items)
    if len(items) > MAX_ITEMS:  # keep the first MAX_ITEMS in the registry's order
        items = sorted(items, key=prompt_key)[:MAX_ITEMS]
    STATS[name] = stats
    return tuple(items)


def build(name: str) -> list[Item]:
    """All items of unseen task `name` (at most MAX_ITEMS), read from the BIG-bench cache."""
    return list(_build(name, str(bigbench_dir())))


def clear_caches() -> None:
    _build.cache_clear()


def required_files() -> list[str]:
    """Every task.json (task or task/subtask folder) the suite reads: what the fetch caches."""
    return sorted({f for t in TASKS for f in t.files})


_BY_NAME = {t.name: t for t in TASKS}
assert len(_BY_NAME) == len(TASKS)
SPECS: list[tuple] = [(t.name, t.domain, t.answer_format, functools.partial(build, t.name)) for t in TASKS]
