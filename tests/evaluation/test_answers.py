"""Answer extraction on tricky generated outputs."""

import pytest

from dnd.evaluation.answers import extract_answer, is_correct, normalize


@pytest.mark.parametrize("output,choices,expected", [
    ("no", ["yes", "no"], "no"),
    ("No.", ["yes", "no"], "no"),
    ("The answer is: No.", ["yes", "no"], "no"),
    ("Answer: the answer is yes", ["yes", "no"], "yes"),
    ("  Yes, because the passage says so.", ["yes", "no"], "yes"),
    ("nothing happened", ["no", "yes"], "nothing happened"),  # 'no' is not a word of it
    ("I think it is negative.", ["positive", "negative"], "negative"),
    ("positive or negative", ["positive", "negative"], "positive or negative"),  # ambiguous: no match
    ("positive\nnegative", ["positive", "negative"], "positive"),  # first line only
    ("yes<|im_end|>no", ["yes", "no"], "yes"),  # special token left in
    ("“Paris”", None, "paris"),
    ("A: water", ["water", "fire"], "water"),
    ("The correct option is: a bicycle", ["a bicycle", "a bicycle pump"], "a bicycle"),
    ("a bicycle pump", ["a bicycle", "a bicycle pump"], "a bicycle pump"),  # longest choice first
    ("", ["yes", "no"], ""),
])
def test_extract(output, choices, expected):
    assert extract_answer(output, choices) == expected


def test_normalize_and_is_correct():
    assert normalize("  Hello,   World! ") == "hello, world"
    assert is_correct("The answer is Yes.", "yes", ["yes", "no"])
    assert not is_correct("The answer is Yes.", "no", ["yes", "no"])
