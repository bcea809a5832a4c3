"""Unseen-benchmark results -> summary statistics, a markdown report and a chart.

Statistics are over tasks: the mean accuracy of each method with a bootstrap 95% interval
(tasks resampled with replacement, seeded), the tasks on which each DnD generator beats each
baseline, its margin over the best label-free baseline, and the fraction of the gap
multi-task LoRA -> full-shot that it closes.
"""

from __future__ import annotations

import random
from pathlib import Path

from dnd.evaluation.paired import paired_difference
from dnd.fileio import atomic_write, write_text

LABEL_FREE = ("base", "calibrated", "calibrated_domain", "training_lora_mean", "average_lora", "nearest_lora",
              "multitask_lora", "multitask_lora+calibrated")
HEADERS = {  # method -> column header; dnd:NAME columns are added per generator
    "base": "base", "calibrated": "calibrated base", "calibrated_domain": "calibrated base (domain rule)",
    "training_lora_mean": "training LoRAs (mean)", "average_lora": "average LoRA",
    "nearest_lora": "nearest LoRA", "multitask_lora": "multi-task LoRA",
    "multitask_lora+calibrated": "multi-task LoRA + calibrated", "icl_1": "ICL 1-shot",
    "icl_k": "ICL k-shot", "full_shot": "full-shot LoRA", "shuffled": "control: shuffled",
    "random_text": "control: random text", "ceiling": "own LoRA, top layers only",
}
BOOTSTRAP = 2000


def methods_of(results: dict, complete: bool = True) -> list[str]:
    """Methods in a fixed order: those of every finished task (complete) or of any."""
    rows = list(results["tasks"].values())
    if not rows:
        return []
    sets = [set(r["accuracy"]) for r in rows]
    have = set.intersection(*sets) if complete else set.union(*sets)
    order = [m for m in HEADERS if m in have and m not in ("shuffled", "random_text", "full_shot")]
    order += sorted(m for m in have if m.startswith("dnd:"))
    return order + [m for m in ("shuffled", "random_text", "full_shot") if m in have]


def bootstrap_ci(values: list[float], seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean, over `BOOTSTRAP` resamples of `values`."""
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(BOOTSTRAP))
    return means[int(0.025 * BOOTSTRAP)], means[int(0.975 * BOOTSTRAP) - 1]


def _stats(rows: list[dict], methods: list[str]) -> tuple[dict, dict, dict]:
    col = {m: [r["accuracy"][m] for r in rows] for m in methods}
    return col, {m: sum(v) / len(v) for m, v in col.items()}, {m: bootstrap_ci(v) for m, v in col.items()}


def summarize(results: dict) -> dict:
    """Per method: mean and bootstrap CI; per DnD generator: margins, wins and gap closed.
    A method scored on only some tasks (e.g. full-shot with --full-shot-tasks) is summarized
    over those tasks, next to every other method's mean on the same subset."""
    rows = list(results["tasks"].values())
    methods = methods_of(results)
    if not rows:
        return {}
    col, mean, ci = _stats(rows, methods)
    out = {"n_tasks": len(rows), "mean": mean, "ci95": ci}
    partial = [m for m in methods_of(results, complete=False) if m not in methods]
    sub_mean = mean
    if partial:
        sub = [r for r in rows if all(m in r["accuracy"] for m in partial)]
        _, sub_mean, sub_ci = _stats(sub, methods + partial)
        out["subset"] = {"n_tasks": len(sub), "methods": partial, "mean": sub_mean, "ci95": sub_ci,
                         "tasks": [t for t, r in results["tasks"].items() if r in sub]}
    free = [m for m in LABEL_FREE if m in mean]
    best = max(free, key=mean.get) if free else None
    out["best_label_free"] = best
    out["dnd"] = {}
    for m in (m for m in methods if m.startswith("dnd:")):
        d = {"wins": {b: sum(x > y for x, y in zip(col[m], col[b])) for b in methods if b != m},
             "ties": {b: sum(x == y for x, y in zip(col[m], col[b])) for b in methods if b != m}}
        if best:
            d["margin_over_best"] = mean[m] - mean[best]
            d["win_rate_over_best"] = d["wins"][best] / len(rows)
        if "multitask_lora" in sub_mean and "full_shot" in sub_mean:
            gap = sub_mean["full_shot"] - sub_mean["multitask_lora"]
            d["gap_closed"] = (sub_mean[m] - sub_mean["multitask_lora"]) / gap if abs(gap) > 1e-9 else None
        out["dnd"][m] = d
    primary = f"dnd:{results.get('primary')}"
    if primary in mean and "shuffled" in mean:
        out["true_minus_shuffled"] = mean[primary] - mean["shuffled"]
    if primary in mean and "random_text" in mean:
        out["true_minus_random_text"] = mean[primary] - mean["random_text"]
    if primary in out["dnd"] and best:
        d = out["dnd"][primary]
        out["targets"] = {
            "mean >= best label-free + 3 points": d["margin_over_best"] >= 0.03,
            "ahead of it on >= 60% of tasks": d["win_rate_over_best"] >= 0.6,
        }
        if "true_minus_shuffled" in out:  # only where the control was run
            out["targets"]["true condition >= shuffled + 2 points"] = out["true_minus_shuffled"] >= 0.02
    out["paired"] = comparisons(results, methods)
    if best and out["paired"]:
        out["paired_targets"] = paired_targets(out["paired"], primary, best)
    return out


def paired_targets(paired: dict, primary: str, best: str) -> dict:
    """Issue 21's targets on the paired statistics, for the primary generator plain and
    calibrated: >= best label-free + 3 points with the paired interval above 0, ahead of it
    on >= 60% of tasks, and (plain) true condition >= shuffled + 2 with the interval above 0."""
    out = {}
    for m in (primary, f"{primary}+calibrated"):
        d = paired.get(f"{m} - {best}")
        if d is None:
            continue
        name = _header(m).strip("*")
        out[f"{name} >= {HEADERS.get(best, best)} + 3 points, interval above 0"] = d["mean"] >= 0.03 and d["ci95"][0] > 0
        out[f"{name} ahead of {HEADERS.get(best, best)} on >= 60% of tasks"] = d["wins"] >= 0.6 * d["n_tasks"]
    d = paired.get(f"{primary} - shuffled")
    if d is not None:
        out["true condition >= shuffled + 2 points, interval above 0"] = d["mean"] >= 0.02 and d["ci95"][0] > 0
    return out


def comparison_pairs(methods: list[str], primary: str) -> list[tuple[str, str]]:
    """(A, B) pairs the report compares on the same items: every DnD method against every
    label-free baseline (the primary one also against its controls), and each calibration
    against what it calibrates."""
    free = [m for m in LABEL_FREE if m in methods]
    pairs = [(m, b) for m in methods if m.startswith("dnd:") for b in free]
    pairs += [(primary, c) for c in ("shuffled", "random_text") if primary in methods and c in methods]
    pairs += [(m, m.removesuffix("+calibrated")) for m in methods
              if m.startswith("dnd:") and m.endswith("+calibrated") and m.removesuffix("+calibrated") in methods]
    for a, b in (("calibrated", "base"), ("calibrated_domain", "base"), ("calibrated_domain", "calibrated"),
                 ("multitask_lora", "base"), ("multitask_lora+calibrated", "multitask_lora")):
        if a in methods and b in methods:
            pairs.append((a, b))
    return list(dict.fromkeys(pairs))


def comparisons(results: dict, methods: list[str]) -> dict:
    """'A - B' -> paired difference over the tasks whose rows keep per-item correctness."""
    rows = {t: r for t, r in results["tasks"].items() if "correct" in r}
    if not rows:
        return {}
    out = {}
    for a, b in comparison_pairs(methods, f"dnd:{results.get('primary')}"):
        have = {t: r["correct"] for t, r in rows.items() if a in r["correct"] and b in r["correct"]}
        if have:
            d = paired_difference({t: c[a] for t, c in have.items()}, {t: c[b] for t, c in have.items()})
            out[f"{a} - {b}"] = {"a": a, "b": b, **d.to_json()}
    return out


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _header(m: str) -> str:
    return f"**DnD {m[4:].replace('+', ' + ')}**" if m.startswith("dnd:") else HEADERS[m]


def write_report(out: Path, results: dict) -> None:
    """OUT/SUITE.md (per-task table, means with intervals, wins, targets) and OUT/SUITE.png."""
    methods, summ, s = methods_of(results), results.get("summary") or {}, results["settings"]
    every = methods_of(results, complete=False)
    if not methods:
        return
    lines = [f"# Unseen-task benchmark: suite `{results['suite']}`", "",
             f"Date: {results['date']}. Command:", "", f"```\n{results['command']}\n```", "",
             f"Base model `{results['base_model']['name']}`. {summ['n_tasks']} tasks, each scored on the first "
             f"{s['limit'] or 'all'} items of its eval pool " + (
                 "by greedy decoding, the extracted answer exact-matched against the label, "
                 if s.get("protocol") == "generate" else "by the log-likelihood of the choices (length-normalized), ") +
             f"base model weights in {s.get('precision', 'fp32')} for every method. " +
             (f"Generators: {', '.join(f'`{n}` ({p})' for n, p in s['generators'])}; the controls use "
              f"`{results['primary']}`. " if s["generators"] else "No generator in this run. ") +
             (f"Training LoRAs = a fixed seeded sample of {len(results['sampled_loras'])} of the zoo's "
              f"{results['zoo_tasks']} LoRAs ({', '.join(results['sampled_loras'])}); average and nearest LoRA use "
              "all of them. " if "training_loras" in s["methods"] else "") +
             (f"Nearest LoRA = the zoo LoRA of the task among all {s['nearest_among']} tasks whose first "
              "train-pool prompts' mean MiniLM embedding is closest to the scored task's (the zoo holds the LoRAs "
              "retrieved). " if s.get("nearest_among") and "nearest" in s["methods"] else "") +
             ("Full-shot = a LoRA trained on the task's own train pool (upper reference). "
              if "full_shot" in s["methods"] else "") + "Accuracy in %.", ""]
    lines += ["## Means over tasks (bootstrap 95% interval over tasks)", "", "| method | mean | 95% interval |",
              "|---|---|---|"]
    for m in methods:
        lo, hi = summ["ci95"][m]
        lines.append(f"| {_header(m)} | {_pct(summ['mean'][m])} | {_pct(lo)} – {_pct(hi)} |")
    best = summ.get("best_label_free")
    lines += ["", f"Best label-free baseline by mean: **{HEADERS.get(best, best)}**.", ""]
    if "subset" in summ:
        sub = summ["subset"]
        lines += [f"{', '.join(HEADERS[m] for m in sub['methods'])} scored on the first {sub['n_tasks']} tasks only "
                  f"({', '.join(sub['tasks'])}); every method's mean on that subset:", "",
                  "| method | mean (subset) | 95% interval |", "|---|---|---|"]
        for m in methods + sub["methods"]:
            lo, hi = sub["ci95"][m]
            lines.append(f"| {_header(m)} | {_pct(sub['mean'][m])} | {_pct(lo)} – {_pct(hi)} |")
        lines.append("")
    for m, d in summ.get("dnd", {}).items():
        wins = ", ".join(f"{HEADERS.get(b, b)} {w}/{summ['n_tasks']}" for b, w in d["wins"].items())
        gap = d.get("gap_closed")
        lines += [f"- {_header(m)}: margin over the best label-free baseline "
                  f"{100 * d.get('margin_over_best', 0):+.1f} points; gap multi-task -> full-shot closed{' (subset)' if 'subset' in summ else ''}: "
                  f"{'–' if gap is None else f'{100 * gap:.0f}%'}; tasks won against: {wins}."]
    if "true_minus_shuffled" in summ:
        rt = summ.get("true_minus_random_text")
        lines += [f"- True condition minus shuffled condition: {100 * summ['true_minus_shuffled']:+.1f} points"
                  + (f"; minus random text: {100 * rt:+.1f} points." if rt is not None else ".")]
    if summ.get("paired"):
        lines += _paired_lines(summ["paired"])
    if "targets" in summ:
        lines += ["", "Targets (issue 10), primary generator, on means:", ""]
        lines += [f"- {t}: {'met' if ok else '**missed**'}" for t, ok in summ["targets"].items()]
    if summ.get("paired_targets"):
        lines += ["", f"Targets (issue 21), on paired differences against the best label-free baseline by mean "
                      f"({HEADERS.get(summ['best_label_free'], summ['best_label_free'])}):", ""]
        lines += [f"- {t}: {'met' if ok else '**missed**'}" for t, ok in summ["paired_targets"].items()]
    lines += ["", "## Per task", "", "| task | n | " + " | ".join(_header(m) for m in every) + " |",
              "|---|---|" + "---|" * len(every)]
    for task, r in results["tasks"].items():
        cells = [_pct(r["accuracy"].get(m)) for m in every]
        for j, m in enumerate(every):
            if m == "nearest_lora":
                cells[j] += f" ({r['nearest_task']})"
            if m == "icl_k":
                cells[j] += f" (k={r['k_shots']})"
        lines.append(f"| {task} | {r['n_items']} | " + " | ".join(cells) + " |")
    if any("full_shot" in r for r in results["tasks"].values()):
        lines += ["", "## Full-shot LoRAs (training losses)", "", "| task | train items | steps | final loss | time (s) |",
                  "|---|---|---|---|---|"]
        for task, r in results["tasks"].items():
            f = r.get("full_shot")
            if f:
                lines.append(f"| {task} | {f['train_items']} | {f['steps']} | {f['final_loss']} | {f['wall_time_s']} |")
    lines.append("")
    name = results.get("name", results["suite"])
    write_text(out / f"{name}.md", "\n".join(lines))
    _chart(out / f"{name}.png", results, methods, summ)


def _chart(path: Path, results: dict, methods: list[str], summ: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = [100 * summ["mean"][m] for m in methods]
    lo = [100 * (summ["mean"][m] - summ["ci95"][m][0]) for m in methods]
    hi = [100 * (summ["ci95"][m][1] - summ["mean"][m]) for m in methods]
    colors = ["tab:red" if m.startswith("dnd:") else "tab:gray" if m in ("shuffled", "random_text")
              else "tab:green" if m == "full_shot" else "tab:blue" for m in methods]
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(methods)), 4.5))
    ax.bar(range(len(methods)), means, yerr=[lo, hi], color=colors, capsize=3)
    ax.set_xticks(range(len(methods)), [_header(m).strip("*") for m in methods], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("mean accuracy % (95% bootstrap interval over tasks)")
    ax.set_ylim(min(means) - 10, max(means) + 10)
    ax.set_title(f"suite {results['suite']}: {summ['n_tasks']} tasks never trained on")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def _paired_lines(paired: dict) -> list[str]:
    lines = ["", "## Paired differences on the same items", "",
             "A minus B in points, mean over tasks of the per-task difference; 95% interval from a two-level "
             "bootstrap (tasks, then items within each task); wins/ties/losses counted over tasks. **Resolved** = "
             "the interval excludes 0.", "", "| A | B | A - B | 95% interval | wins / ties / losses | resolved |",
             "|---|---|---|---|---|---|"]
    for d in paired.values():
        lo, hi = d["ci95"]
        lines.append(f"| {_header(d['a'])} | {_header(d['b'])} | {100 * d['mean']:+.1f} | {100 * lo:+.1f} to "
                     f"{100 * hi:+.1f} | {d['wins']} / {d['ties']} / {d['losses']} | "
                     f"{'**yes**' if d['resolved'] else 'no'} |")
    return lines
