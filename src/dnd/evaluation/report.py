"""results.json -> a markdown table laid out like the paper's, a cost table and a bar chart."""

from __future__ import annotations

from pathlib import Path

from dnd.fileio import atomic_write, write_text

COLUMNS = [  # (key, header)
    ("base", "base"),
    ("training_lora_mean", "training LoRAs (mean)"),
    ("training_lora_best", "training LoRAs (best)"),
    ("average_lora", "average LoRA"),
    ("nearest_lora", "nearest LoRA"),
    ("icl_1", "ICL 1-shot"),
    ("icl_k", "ICL k-shot"),
    ("dnd", "**DnD**"),
    ("full_shot", "full-shot LoRA"),
]


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def table(results: dict, protocol: str) -> str:
    rows = [(t, r["protocols"][protocol], r) for t, r in results["tasks"].items() if protocol in r["protocols"]]
    if not rows:
        return ""
    head = "| task | n | " + " | ".join(h for _, h in COLUMNS) + " | DnD − train mean |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for task, p, r in rows:
        cells = [_pct(p[k]) for k, _ in COLUMNS]
        cells[2] += f" ({p['training_lora_best_task']})"
        cells[4] += f" ({r['nearest_task']})"
        cells[6] += f" (k={r['k_max']})"
        gain = 100 * (p["dnd"] - p["training_lora_mean"])
        lines.append(f"| {task} | {r['n_items']} | " + " | ".join(cells) + f" | {gain:+.1f} |")
    means = {k: sum(p[k] for _, p, _ in rows) / len(rows) for k, _ in COLUMNS}
    gain = 100 * (means["dnd"] - means["training_lora_mean"])
    lines.append("| **mean** | | " + " | ".join(_pct(means[k]) for k, _ in COLUMNS) + f" | {gain:+.1f} |")
    return "\n".join(lines)


def cost_table(results: dict) -> str:
    lines = ["| task | DnD generation (s) | full-shot fine-tuning (s) | ratio | fine-tuning to reach DnD (s) | ratio |",
             "|---|---|---|---|---|---|"]
    for task, r in results["tasks"].items():
        c = r["cost"]
        reach = "not reached" if c.get("reach_dnd_s") is None else f"{c['reach_dnd_s']} (step {c['reach_dnd_step']})"
        ratio = "–" if c.get("reach_dnd_s") is None else f"{c['reach_over_dnd']:,.0f}x"
        lines.append(f"| {task} | {c['dnd_s']:.2f} | {c['full_shot_s']:.0f} | {c['full_shot_over_dnd']:,.0f}x | {reach} | {ratio} |")
    return "\n".join(lines)


def write_report(out: Path, results: dict) -> None:
    s = results["settings"]
    parts = [
        f"# Leave-one-out reproduction: suite `{results['suite']}`",
        "",
        f"Date: {results['date']}. Command:",
        "",
        f"```\n{results['command']}\n```",
        "",
        f"Base model `{results['zoo']['base_model']['name']}`, LoRA r={results['zoo']['lora']['r']}. "
        f"Each row: a generator trained on the other tasks ({'the suite' if s['train_on'] == 'suite' else 'the whole zoo'}), "
        f"conditioned on {s['generator']['condition']['n_prompts']} unlabeled prompts from the held-out task's "
        f"train pool; every method scored on the same first {s['limit'] or 'all'} eval-pool items. "
        "Accuracy in %. Training LoRAs = the full-shot LoRAs of the other tasks applied to this one (the paper's "
        "baseline); average LoRA = their weight-space mean; nearest LoRA = the one whose task's prompts are "
        "closest in encoder space; full-shot = this task's own LoRA (upper reference).",
        "",
    ]
    for protocol in s["protocols"]:
        t = table(results, protocol)
        if t:
            name = {"loglik": "log-likelihood of the choices (length-normalized)",
                    "generate": "greedy generation, exact match"}[protocol]
            parts += [f"## Protocol: {name}", "", t, ""]
    parts += ["## Cost", "", cost_table(results), "",
              "## Training losses and weight-space closeness", "",
              "Cosine between the lora_B weights of an adapter and the held-out task's own full-shot LoRA.", "",
              "| task | generator parameters | generator train time (s) | generator final loss | zoo final loss "
              "| cos(DnD, own) | cos(average, own) | cos(nearest, own) |",
              "|---|---|---|---|---|---|---|---|"]
    for task, r in results["tasks"].items():
        g, c = r["generator"], r["b_cosine_to_full_shot"]
        parts.append(f"| {task} | {g['parameters']:,} | {g['train_time_s']} | {g['final_loss']:.4f} | "
                     f"{r.get('zoo_final_loss', '–')} | {c['dnd']:.3f} | {c['average']:.3f} | {c['nearest']:.3f} |")
    parts.append("")
    write_text(out / f"{results['suite']}.md", "\n".join(parts))
    _chart(out / f"{results['suite']}.png", results, s["protocols"][0])


def _chart(path: Path, results: dict, protocol: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(t, r["protocols"][protocol]) for t, r in results["tasks"].items() if protocol in r["protocols"]]
    if not rows:
        return
    keys = ["base", "training_lora_mean", "nearest_lora", "icl_k", "dnd", "full_shot"]
    width = 0.8 / len(keys)
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(rows)), 4.5))
    for j, k in enumerate(keys):
        ax.bar([i + j * width for i in range(len(rows))], [100 * p[k] for _, p in rows], width,
               label=dict(COLUMNS)[k].strip("*"))
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(rows))], [t for t, _ in rows], rotation=20)
    ax.set_ylabel(f"accuracy % ({protocol})")
    ax.set_title(f"DnD leave-one-out, suite {results['suite']}")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
