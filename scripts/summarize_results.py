"""Per task: DnD against the training-LoRA mean, the best simple baseline and full-shot,
with the cost ratios, read from `dnd reproduce` JSON reports (the closing-note summary).

    python scripts/summarize_results.py results/commonsense.json results/short.json [--protocol loglik]

"Best simple baseline" is the best of base, average LoRA, nearest LoRA, ICL 1-shot and
ICL k-shot: methods that can be chosen without the scored items. The best training LoRA
is left out of it, because picking it needs the scored items (an oracle).
"""

from __future__ import annotations

import argparse
import json

SIMPLE = {"base": "base", "average_lora": "average", "nearest_lora": "nearest", "icl_1": "ICL-1", "icl_k": "ICL-k"}


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def summarize(path: str, protocol: str) -> list[str]:
    with open(path) as f:
        results = json.load(f)
    lines = [f"### {results['suite']} ({protocol}; {path})", "",
             "| task | n | DnD | train mean | best simple | full-shot | full-shot time / DnD time | time to reach DnD / DnD time |",
             "|---|---|---|---|---|---|---|---|"]
    wins = 0
    rows = [(t, r) for t, r in results["tasks"].items() if protocol in r["protocols"]]
    for task, row in rows:
        p, cost = row["protocols"][protocol], row["cost"]
        best = max(SIMPLE, key=lambda k: p[k])
        wins += p["dnd"] > p["training_lora_mean"]
        reach = f"{cost['reach_over_dnd']}x (step {cost['reach_dnd_step']})" if cost.get("reach_dnd_s") is not None else "not reached"
        lines.append(f"| {task} | {row['n_items']} | {pct(p['dnd'])} | {pct(p['training_lora_mean'])} | "
                     f"{pct(p[best])} ({SIMPLE[best]}) | {pct(p['full_shot'])} | {cost['full_shot_over_dnd']}x | {reach} |")
    if rows:
        mean = {k: sum(r["protocols"][protocol][k] for _, r in rows) / len(rows)
                for k in ("dnd", "training_lora_mean", "full_shot", *SIMPLE)}
        top = max(SIMPLE, key=lambda k: mean[k])  # the one simple method with the best mean
        lines.append(f"| **mean** | | {pct(mean['dnd'])} | {pct(mean['training_lora_mean'])} | "
                     f"{pct(mean[top])} ({SIMPLE[top]}) | {pct(mean['full_shot'])} | | |")
        lines += ["", f"DnD above the training-LoRA mean on {wins} of {len(rows)} tasks."]
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--protocol", default="loglik", choices=("loglik", "generate"))
    args = ap.parse_args()
    for path in args.reports:
        print("\n".join(summarize(path, args.protocol)))


if __name__ == "__main__":
    main()
