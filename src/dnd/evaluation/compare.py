"""Two candidate generators on the same rung: is one's adapter better than the other's?

Each candidate's recovery rung (OUT/NAME/recovery.json) keeps, per task, which scored items
each method got right. Two candidates scored on the same items (same zoo, `--limit` and
precision: their base-model columns agree item for item) can be compared directly: the
paired difference of their generated adapters (and of their shuffled controls) over the
tasks both have, with the two-level bootstrap of dnd.evaluation.paired, and each one's
recovery on those common tasks.

    dnd diagnose compare --out results/ladder NAME_A NAME_B
"""

from __future__ import annotations

from pathlib import Path

from dnd.errors import DndError
from dnd.fileio import read_json


def _recovery(out: Path, name: str) -> dict:
    path = out / name / "recovery.json"
    if not path.exists():
        raise DndError(f"{path}: no recovery rung for candidate {name!r} (run `dnd diagnose recovery` first)")
    return read_json(path)


def _recovery_on(r: dict, tasks: list[str]) -> float | None:
    """mean(DnD - base) / mean(own - base) over `tasks` (None: the own LoRAs gain nothing)."""
    from dnd.evaluation.recovery import _ratio

    rows = [r["tasks"][t]["accuracy"] for t in tasks]
    return _ratio([a[r["method"]] - a["base"] for a in rows], [a["full_shot"] - a["base"] for a in rows])


def compare_recovery(out: str | Path, a: str, b: str) -> dict:
    """Candidate `a` minus candidate `b` on the recovery rung, paired on the common tasks' items."""
    from dnd.evaluation.paired import paired_difference

    out = Path(out)
    ra, rb = _recovery(out, a), _recovery(out, b)
    tasks = [t for t in ra["tasks"] if t in rb["tasks"]]
    if not tasks:
        raise DndError(f"{a} and {b}: no task in both recovery rungs")
    for t in tasks:
        if ra["tasks"][t]["correct"]["base"] != rb["tasks"][t]["correct"]["base"]:
            raise DndError(f"{a} and {b}: task {t} was scored on other items or at another precision "
                           "(the base model's answers differ); rerun both with the same --zoo, --limit and --precision")
    result = {"a": a, "b": b, "tasks": tasks,
              "recovery": {a: _recovery_on(ra, tasks), b: _recovery_on(rb, tasks)}, "paired": {}}
    for what, ma, mb in (("dnd", ra["method"], rb["method"]), ("shuffled", "shuffled", "shuffled")):
        if all(ma in ra["tasks"][t]["correct"] and mb in rb["tasks"][t]["correct"] for t in tasks):
            d = paired_difference({t: ra["tasks"][t]["correct"][ma] for t in tasks},
                                  {t: rb["tasks"][t]["correct"][mb] for t in tasks})
            result["paired"][what] = d.to_json()
    return result


def format_comparison(c: dict) -> str:
    """A markdown table of `compare_recovery`'s result."""
    rec = {n: "–" if v is None else f"{100 * v:.0f}%" for n, v in c["recovery"].items()}
    lines = [f"{c['a']} - {c['b']}, recovery rung, {len(c['tasks'])} common tasks "
             f"(recovery {rec[c['a']]} against {rec[c['b']]})", "",
             "| A - B | points | 95% interval | wins / ties / losses | resolved |", "|---|---|---|---|---|"]
    for what, d in c["paired"].items():
        lo, hi = d["ci95"]
        lines.append(f"| {what} | {100 * d['mean']:+.1f} | {100 * lo:+.1f} to {100 * hi:+.1f} | "
                     f"{d['wins']} / {d['ties']} / {d['losses']} | {'**yes**' if d['resolved'] else 'no'} |")
    return "\n".join(lines)
