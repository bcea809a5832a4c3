"""Argument types and the parser class shared by every `dnd` subcommand.

Every numeric flag is parsed by one of these types, so an out-of-range value is refused
while the command line is read (exit status 2, one line naming the flag), and 0 never
silently means "the default":

    p.add_argument("--steps", type=positive_int, default=None)
"""

from __future__ import annotations

import argparse
import math
import sys


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (no usage block)."""

    def error(self, message: str):  # noqa: D401 (argparse's signature)
        print(f"dnd: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def _int(text: str, lowest: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int(text, 1, "a positive integer")


def nonneg_int(text: str) -> int:
    """An integer >= 0 (where 0 is a real setting, e.g. a seed or a count of shots)."""
    return _int(text, 0, "an integer >= 0")


def _float(text: str, positive: bool) -> float:
    what = "a positive number" if positive else "a number >= 0"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates)."""
    return _float(text, positive=True)


def nonneg_float(text: str) -> float:
    """A finite number >= 0 (weight decay, noise levels)."""
    return _float(text, positive=False)


def suite_tasks(suite: str, tasks: str) -> tuple[str, ...]:
    """Check --suite and --tasks (comma-separated, each in the suite) -> the task names."""
    from dnd.errors import DndError
    from dnd.tasks.registry import SUITES

    if suite not in SUITES:
        raise DndError(f"--suite {suite}: unknown (known: {', '.join(SUITES)})")
    names = tuple(t.strip() for t in tasks.split(",") if t.strip())
    outside = [t for t in names if t not in SUITES[suite]]
    if outside:
        raise DndError(f"--tasks: {', '.join(outside)} not in suite {suite}")
    return names
