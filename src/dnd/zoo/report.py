"""The zoo's per-task report: `dnd zoo --list ZOO --markdown FILE.md` writes FILE.md and
FILE.json from the manifest alone (nothing is recomputed), so the table always matches
the adapters on disk."""

from __future__ import annotations

import statistics
import sys
from datetime import date
from pathlib import Path

from dnd.fileio import write_json, write_text
from dnd.tasks.registry import TASKS


def report_rows(manifest: dict) -> list[dict]:
    """One row per task: training figures and, where recorded, the eval-pool accuracies."""
    rows = []
    for task, e in manifest["tasks"].items():
        ev = e.get("eval") or {}
        spec = TASKS.get(task)
        rows.append({
            "task": task, "domain": spec.domain if spec else "", "train_pool": e["train_pool"],
            "steps": e["train"]["steps"], "batch_size": e["train"]["batch_size"],
            "precision": e["train"].get("precision", "fp32"), "final_loss": e["final_loss"],
            "train_s": e["wall_time_s"], "eval_s": ev.get("wall_time_s"), "protocol": ev.get("protocol"),
            "n": ev.get("n"), "base": ev.get("base"), "lora": ev.get("lora"),
            # entries written before scoring moved to fp32 were scored in the training precision
            "scored_in": ev.get("precision", e["train"].get("precision", "fp32")) if ev else None,
        })
    return rows


def _num(x) -> str:
    return "" if x is None else f"{x:.0f}"


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def write_zoo_report(manifest: dict, path: str) -> str:
    """Write the markdown table to `path` and the rows as JSON beside it; return a summary line."""
    rows = report_rows(manifest)
    scored = [r for r in rows if r["base"] is not None]
    total_s = sum(r["train_s"] + (r["eval_s"] or 0) for r in rows)
    gains = [r["lora"] - r["base"] for r in scored]
    lines = [
        "# The wide zoo: one LoRA per task",
        "",
        f"Command: `dnd {' '.join(sys.argv[1:]) if len(sys.argv) > 2 else 'zoo --list ZOO --markdown FILE'}` "
        f"(written {date.today().isoformat()} from the zoo's manifest).",
        f"Base model {manifest['base_model']['name']} (weights {manifest['base_model']['weights_sha256'][:12]}), "
        f"LoRA {manifest['lora']}.",
        "",
        f"{len(rows)} tasks; training + scoring wall time {total_s / 3600:.2f} h in all "
        f"({total_s / max(1, len(rows)):.0f} s per task).",
    ]
    if scored:
        helped = sum(g >= 0.05 for g in gains)
        lines.append(f"Eval-pool accuracy on {len(scored)} tasks: base {100 * statistics.mean(r['base'] for r in scored):.1f}, "
                     f"own LoRA {100 * statistics.mean(r['lora'] for r in scored):.1f} (mean gain "
                     f"{100 * statistics.mean(gains):+.1f} points; the LoRA gains >= 5 points on {helped} tasks).")
    lines += ["", "| task | domain | train pool | steps | precision | final loss | train s | eval s | protocol | n "
              "| scored in | base % | own LoRA % | gain |", "|" + "---|" * 14]
    for r in rows:
        gain = "" if r["base"] is None else f"{100 * (r['lora'] - r['base']):+.1f}"
        lines.append(f"| {r['task']} | {r['domain']} | {r['train_pool']} | {r['steps']} | {r['precision']} | "
                     f"{r['final_loss']:.4f} | {r['train_s']:.0f} | {_num(r['eval_s'])} | "
                     f"{r['protocol'] or ''} | {r['n'] or ''} | {r['scored_in'] or ''} | {_pct(r['base'])} | {_pct(r['lora'])} | {gain} |")
    multi = manifest.get("multitask", {})
    if multi:
        lines += ["", "## Multi-task LoRAs", "", "| name | tasks | steps | final loss | wall s |", "|---|---|---|---|---|"]
        for name, m in multi.items():
            lines.append(f"| {name} | {len(m['tasks'])} | {m['train']['steps']} | {m['final_loss']:.4f} | {m['wall_time_s']:.0f} |")
    write_text(path, "\n".join(lines) + "\n")
    write_json(Path(path).with_suffix(".json"), {"base_model": manifest["base_model"], "lora": manifest["lora"],
                                                 "tasks": rows, "multitask": multi})
    return f"wrote {path} and {Path(path).with_suffix('.json')} ({len(rows)} tasks)"
