"""Answer extraction and normalization for the generative protocol.

A chatty model answers "The answer is: No." where the label is "no"; a tuned adapter
answers "no". Both should count. Extraction, in order:
  1. cut at the end of the first line (the end-of-turn token is already stripped);
  2. drop a leading "answer:", "the answer is", "a:" ...;
  3. with choices: the choice the answer starts with (longest first), else the only choice
     mentioned as a whole phrase; otherwise the normalized text itself.
"""

from __future__ import annotations

import re
import string
import unicodedata

_PREFIXES = re.compile(
    r"^(?:(?:the\s+)?(?:correct\s+|final\s+|best\s+)?(?:answer|option|choice|label)\s*(?:is|would be|:)\s*:?\s*|a\s*:\s*)",
    re.IGNORECASE,
)
_PUNCT = string.punctuation + "“”‘’«»"


def normalize(text: str) -> str:
    """Lowercase, unify unicode, collapse whitespace, strip surrounding punctuation/quotes."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = " ".join(text.split())
    return text.strip(_PUNCT + " ")


def extract_answer(output: str, choices: tuple[str, ...] | list[str] | None = None) -> str:
    """The normalized answer in a generated `output` (see module docstring)."""
    output = re.split(r"<\|", output)[0]  # special tokens left in by a decoder
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    for _ in range(2):  # "Answer: The answer is no"
        text = _PREFIXES.sub("", text.strip())
    text = normalize(text)
    if not choices:
        return text
    normed = sorted({normalize(c) for c in choices}, key=len, reverse=True)
    def mentions(c: str, s: str) -> bool:
        return re.search(rf"(?<![\w]){re.escape(c)}(?![\w])", s) is not None

    for c in normed:
        rest = text[len(c):]
        if text == c or (text.startswith(c) and not rest[:1].isalnum()
                         and not any(mentions(o, rest) for o in normed if o != c)):
            return c  # starts with a choice and names no other one ("positive or negative" is no answer)
    mentioned = [c for c in normed if mentions(c, text)]
    if len(mentioned) == 1:
        return mentioned[0]
    return text


def is_correct(output: str, answer: str, choices=None) -> bool:
    return extract_answer(output, choices) == normalize(answer)
