"""What `dnd demo` prints and draws from its results (dnd.evaluation.demo_unseen): the
accuracy table, the shown answers, the closing note, and the bar chart."""

from __future__ import annotations

import textwrap
from pathlib import Path

from dnd.fileio import atomic_write

NOT_CALIBRATED = "options vary per item: not calibrated"
# (key in a task's row, table header, chart legend); calibrated: batch calibration from the
# task's unlabeled prompts (dnd.evaluation.calibration)
COLUMNS = (("base", "base", "base model"), ("calibrated", "base+cal", "calibrated base"),
           ("dnd", "DnD", "DnD (generated)"), ("dnd+calibrated", "DnD+cal", "DnD + calibrated"),
           ("multitask", "multi-task", "multi-task LoRA"))
DIFFS = (("dnd", "base", "DnD - base"), ("dnd+calibrated", "base", "DnD+cal - base"))  # (minuend, subtrahend, header)
CELL = 11
COLOURS = {"base": "C0", "calibrated": "C0", "dnd": "C2", "dnd+calibrated": "C2", "multitask": "C4"}


def columns(results: dict) -> list[tuple[str, str, str]]:
    """The COLUMNS every task has (no multi-task LoRA without a reference)."""
    return [c for c in COLUMNS if all(c[0] in r for r in results["tasks"].values())]


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(results: dict) -> None:
    """One row per task: accuracy (%) per column, then the DIFFS in points."""
    rows, cols = results["tasks"], columns(results)
    w = max(map(len, rows)) + 2
    print(f"  {'task':<{w}}" + "".join(f"{short:>{CELL}}" for _, short, _ in cols)
          + "".join(f"{head:>{len(head) + 3}}" for _, _, head in DIFFS))
    for task, r in rows.items():
        cells = "".join(f"{100 * r[k]['accuracy']:>{CELL}.1f}" for k, _, _ in cols)
        diffs = "".join(f"{100 * (r[a]['accuracy'] - r[b]['accuracy']):>+{len(head) + 3}.1f}" for a, b, head in DIFFS)
        print(f"  {task:<{w}}{cells}{diffs}")
    half = max((r[k]["ci95"][1] - r[k]["ci95"][0]) / 2 for r in rows.values() for k, _, _ in cols)
    print(f"  (95% Wilson intervals: up to ±{100 * half:.0f} points per cell at this size; demo.json has each)")
    print(f"  +cal: {results.get('calibration_rule', 'batch')} calibration, by the label prior that the model shows "
          f"on the same {results['n_prompts']} unlabeled prompts (no label read)")
    for task in (t for t, r in rows.items() if r.get("calibration") == NOT_CALIBRATED):
        print(f"  {task}: ({NOT_CALIBRATED}), its +cal cells are its plain ones")


def print_report(results: dict, out: Path, total_s: float) -> None:
    never = "" if results["trained_on"] else "; the generator never saw these tasks"
    print(f"\nAccuracy (%) on the first {results['limit']} eval-pool items of each task "
          f"(log-likelihood of the choices){never}:\n")
    _table(results)
    for task, r in results["tasks"].items():
        ex = r["example"]
        print(f"\n{task}, first eval prompt (expected: {ex['answer']}):\n  {_short(ex['prompt'], 300)}")
        print(f"  base model: {_short(ex['base'], 150)}\n  DnD:        {_short(ex['dnd'], 150)}")
    print(f"\nAdapters (PEFT directories): {out / 'adapters'}; chart {out / 'demo.png'}; figures {out / 'demo.json'}.")
    print(f"Total {total_s:.0f} s; a rerun reads the cached scores.")
    print("\nYour own task: write its unlabeled prompts one per line to my_prompts.txt, then\n"
          "  dnd generate --prompts my_prompts.txt --out my_adapter   # a PEFT adapter, in about a second\n"
          "  dnd eval --task-file my_labeled.jsonl --adapter my_adapter   # optional: score it on labeled rows\n"
          "  dnd serve                                                 # drop page + OpenAI API, http://127.0.0.1:8000/")


def chart(path: Path, results: dict) -> None:
    """Grouped bars: accuracy per task and column (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks, cols = list(results["tasks"]), columns(results)
    width = 0.8 / len(cols)
    fig, ax = plt.subplots(figsize=(max(7, 2.6 * len(tasks)), 4.4))
    for j, (k, _, name) in enumerate(cols):
        cal = "calibrated" in k  # a calibrated column: its plain column's colour, lighter and hatched
        bars = ax.bar([i + j * width for i in range(len(tasks))],
                      [100 * results["tasks"][t][k]["accuracy"] for t in tasks], width, label=name,
                      color=COLOURS[k], alpha=0.55 if cal else 1.0, hatch="//" if cal else None)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    labels = [textwrap.fill(t.removeprefix("bb_").replace("_", " "), 24)
              + ("\n(not calibrated: options vary)" if results["tasks"][t].get("calibration") == NOT_CALIBRATED else "")
              for t in tasks]
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))], labels, fontsize=8)
    ax.set_ylim(0, 122)  # room for the legend's two rows above 100
    ax.set_ylabel(f"accuracy % (first {results['limit']} eval items, log-likelihood)")
    suite = results.get("suite")
    what = "unseen BIG-bench tasks" if suite in (None, "unseen") else f"{suite} tasks"
    ax.set_title(f"dnd demo: {what}, adapters from unlabeled prompts", fontsize=10)
    ax.legend(fontsize=8, ncol=3, loc="upper center")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
