"""Stop strings: one rule for whole and streamed answers (the stop string completed first
decides the cut), whatever pieces the stream arrives in."""

from __future__ import annotations

import random

import pytest

from dnd.serving.chat import stop_cut
from dnd.serving.openai_api import StopTrimmer


@pytest.mark.parametrize("text, stops, cut", [
    ("xab", ("b", "ab"), 1),          # both complete at once: the longer one, cut at its start
    ("xab", ("ab", "b"), 1),          # ... in either order
    ("xabc", ("abc", "b"), 2),        # "b" completes before "abc" does
    ("hello world", ("world", "wor"), 6),
    ("hello", ("z",), None),
    ("aaa", ("aa",), 0),
])
def test_stop_cut(text, stops, cut):
    assert stop_cut(text, stops) == cut


def streamed(text: str, stops: tuple[str, ...], cuts: list[int]) -> str:
    trim, out, last = StopTrimmer(stops), "", 0
    for c in [*cuts, len(text)]:
        out += trim.feed(text[last:c])
        last = c
    return out + trim.flush()


def test_a_stream_cuts_where_the_whole_answer_does_whatever_its_pieces():
    rng = random.Random(0)
    alphabet = "ab c\n"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 16)))
        stops = tuple({"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 4)))
                       for _ in range(rng.randrange(1, 4))})
        cuts = sorted(rng.sample(range(len(text) + 1), rng.randrange(0, len(text) + 1)))
        cut = stop_cut(text, stops)
        assert streamed(text, stops, cuts) == text[:cut], (text, stops, cuts)


def test_without_stops_a_stream_passes_through():
    assert streamed("a b c", (), [1, 3]) == "a b c"
