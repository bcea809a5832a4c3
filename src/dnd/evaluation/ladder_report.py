"""The diagnostics ladder (issue 21): a candidate generator's directory of diagnostics, and
the one-page summary of every rung with its figure, its target and its control.

    OUT/NAME/                 one candidate (scripts/generator_ladder.sh GEN_DIR NAME [ZOO])
        manifest.json         which generator (path, fingerprint = sha256 of its manifest) and
                              the sha256 of every report file here; a NAME is never reused
                              for another generator
        diversity.{json,md}   dnd diagnose diversity   (dnd.evaluation.diversity)
        recovery.{json,md}    dnd diagnose recovery    (dnd.evaluation.recovery)
        wide_val.*, unseen.*  dnd benchmark --out OUT/NAME (near- and far-unseen; the far rung
                              reads heldout.* instead or too: FAR_SUITE=heldout)
    OUT/NAME.md               `dnd diagnose summary`: this module's `summarize`

Rungs and targets:
    delta diversity   mean pairwise cosine of the tasks' deltas < 0.9; control: cosine of
                      the true and the shuffled condition's deltas < 0.9
    seen recovery     mean(DnD - base) >= 70% of mean(own LoRA - base) on training tasks
    near-unseen       wide_val: DnD against the multi-task LoRA, the nearest LoRA and the
                      calibrated base (paired); targets: the benchmark's (issue 21)
    far-unseen        the unseen suite (or `heldout`, built from PyPI data: FAR_SUITES), the same
    controls          true minus shuffled condition on each rung, paired interval (target:
                      >= +2 points with the interval above 0)
The generator's learning curve (GEN_DIR/learning_curve.json: [{"step", "heldout_loss",
"heldout_loss_shuffled"}], the shuffled condition's where measured,
written by the training loop) and its training loss (losses.json) are shown where present.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from dnd.errors import DndError
from dnd.fileio import portable_path, read_json, sha256_file, write_json, write_text

FORMAT = "dnd-diagnostics/1"
MANIFEST = "manifest.json"
LEARNING_CURVE = "learning_curve.json"
RECOVERY_TARGET = 0.7
COSINE_TARGET = 0.9
CONTROL_TARGET = 0.02
FAR_SUITES = ("unseen", "heldout")  # a far rung's report: one row each present (unseen's "not run" if none)


def generator_identity(path: str | Path) -> dict:
    """What a diagnostic was run on: the generator's path and fingerprint (the sha256 of its
    manifest, which holds every file's sha256), checked against that manifest first."""
    from dnd.artifacts import check_generator_dir, read_json_file

    path = Path(path)
    check_generator_dir(path)
    saved = read_json_file(path / "generator_config.json")
    return {"path": portable_path(path), "fingerprint": sha256_file(path / MANIFEST)[:16],
            "head": saved.get("head"), "objective": saved.get("objective"), "reference": saved.get("reference"),
            "n_tasks": len(saved.get("tasks", [])), "base_model": saved.get("base_model", {}).get("name")}


def candidate_dir(out: str | Path, name: str, identity: dict) -> Path:
    """OUT/NAME for `identity`'s diagnostics; refused where NAME is not a plain name or holds
    another generator's (so cached adapters and reports are never mixed)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name or ""):
        raise DndError(f"--name {name!r}: expected a plain name (letters, digits, . _ + -)")
    d = Path(out) / name
    if (d / MANIFEST).exists():
        try:
            have = read_json(d / MANIFEST)
        except ValueError:
            have = None
        if not isinstance(have, dict) or have.get("format") != FORMAT:
            raise DndError(f"--out {d}: holds a {MANIFEST} that is not a diagnostics manifest; choose another --out")
        other = have.get("generator") if isinstance(have.get("generator"), dict) else {}
        if other.get("fingerprint") != identity["fingerprint"]:
            raise DndError(f"--name {name}: {d} holds the diagnostics of another generator "
                           f"({other.get('path', 'unknown')}); choose another --name or remove {d}")
    return d


def update_manifest(d: Path, identity: dict) -> None:
    """OUT/NAME/manifest.json: the generator and the sha256 of every report file beside it."""
    files = {p.name: sha256_file(p) for p in sorted(d.iterdir())
             if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}
    write_json(d / MANIFEST, {"format": FORMAT, "generator": identity, "files": files})


def write_diagnostic(d: Path, stem: str, results: dict, markdown: str, identity: dict) -> None:
    """STEM.json and STEM.md (each atomic), then the manifest."""
    write_json(d / f"{stem}.json", {**results, "generator": identity})
    write_text(d / f"{stem}.md", markdown)
    update_manifest(d, identity)


def _load(path: Path) -> dict | None:
    return read_json(path) if path.exists() else None


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _ok(flag: bool | None) -> str:
    return "–" if flag is None else ("met" if flag else "**missed**")


def _paired(d: dict | None) -> str:
    if d is None:
        return "–"
    lo, hi = d["ci95"]
    return f"{_pts(d['mean'])} points ({_pts(lo)} to {_pts(hi)}; {d['wins']}/{d['ties']}/{d['losses']})"


def _control_met(d: dict | None) -> bool | None:
    return None if d is None else (d["mean"] >= CONTROL_TARGET and d["ci95"][0] > 0)


def _control_cell(d: dict | None) -> str:
    return "–" if d is None else f"{_paired(d)}: {_ok(_control_met(d))}"


def _benchmark_rung(r: dict | None, label: str) -> tuple[list, list[str]]:
    """(summary row, detail lines) of a `dnd benchmark` report on the ladder's generator.
    The rung's target is met where DnD, plain or calibrated, meets both of issue 21's paired
    targets against the best label-free baseline (+3 points with the interval above 0, ahead
    on >= 60% of tasks); the control's target is reported beside it."""
    from dnd.evaluation.unseen_report import HEADERS

    target = "best label-free + 3 points (interval above 0), ahead on >= 60% of tasks"
    if r is None or not r.get("summary"):
        return [label, "not run", target, "–", "–"], []
    summ, dnd = r["summary"], f"dnd:{r['primary']}"
    paired = summ.get("paired", {})
    vs = [(b, paired.get(f"{dnd} - {b}")) for b in ("multitask_lora", "nearest_lora", "calibrated")]
    vs = [(b, d) for b, d in vs if d is not None]
    targets = summ.get("paired_targets", {})
    calibrated = f"DnD {r['primary']} + calibrated"
    groups = [[ok for t, ok in targets.items() if t.startswith(calibrated) == cal and not t.startswith("true condition")]
              for cal in (False, True)]
    met = any(g and all(g) for g in groups) if targets else None
    control = paired.get(f"{dnd} - shuffled")
    head = ", ".join(f"vs {HEADERS[b]} {_pts(d['mean'])}" for b, d in vs) or "–"
    row = [label, f"{summ['n_tasks']} tasks: {head}", target, _ok(met), _control_cell(control)]
    lines = [f"### {label[0].upper() + label[1:]}", "", f"`{r['command']}`", "",
             f"{summ['n_tasks']} tasks, {r['settings']['limit']} items each; mean accuracy DnD "
             f"{100 * summ['mean'][dnd]:.1f}%. Paired differences, DnD minus:", ""]
    lines += [f"- {HEADERS[b]}: {_paired(d)}" for b, d in vs]
    lines += [f"- control, shuffled condition: {_paired(control)} (target >= +2 points, interval above 0: "
              f"{_ok(_control_met(control))})", ""]
    lines += [f"- target: {t}: {_ok(ok)}" for t, ok in targets.items()]
    return row, lines + [""]


def _per_task_lines(first: dict, last: dict) -> list[str]:
    """Each curve task's held-out loss at the curve's first and last points, true condition and
    shuffled (where the loop measured them): which tasks a change of the mean comes from."""
    tasks, shuffled = last.get("per_task"), last.get("per_task_shuffled") or {}
    if not isinstance(tasks, dict) or not tasks or first is last:
        return []
    f, a, b = first.get("per_task") or {}, first["step"], last["step"]
    lines = ["", f"Per curve task (held-out loss at steps {a} and {b}; shuffled: under the next curve task's condition):",
             "", f"| task | step {a} | step {b} | step {b}, shuffled |", "|---|---|---|---|"]
    for t, v in tasks.items():
        sh = shuffled.get(t)
        lines.append(f"| {t} | " + (f"{f[t]:.3f}" if t in f else "-") + f" | {v:.3f} | "
                     + (f"{sh:.3f}" if isinstance(sh, (int, float)) else "-") + " |")
    return lines


def learning_curve_lines(gen_dir: Path) -> list[str]:
    """The generator's held-out learning curve and training loss, where its files exist."""
    lines = ["## Learning curve", ""]
    curve = _load(gen_dir / LEARNING_CURVE)
    if isinstance(curve, list) and curve:
        pts = [c for c in curve if isinstance(c, dict) and "step" in c and "heldout_loss" in c]
        keep = sorted({round(i * (len(pts) - 1) / 9) for i in range(10)}) if len(pts) > 10 else range(len(pts))
        best = min(pts, key=lambda c: c["heldout_loss"]) if pts else None
        lines += [f"Held-out loss on training tasks' held-out items ({LEARNING_CURVE}, {len(pts)} points"
                  + (f"; lowest {best['heldout_loss']:.4f} at step {best['step']}" if best else "") + "):", "",
                  "| step | held-out loss | shuffled condition | shuffled - true |", "|---|---|---|---|"]

        def row(c: dict) -> str:  # the shuffled control where the curve measured it (curve.py)
            sh = c.get("heldout_loss_shuffled")
            extra = f"{sh:.4f} | {sh - c['heldout_loss']:+.4f}" if isinstance(sh, (int, float)) else "- | -"
            return f"| {c['step']} | {c['heldout_loss']:.4f} | {extra} |"

        lines += [row(pts[i]) for i in keep] + _per_task_lines(pts[0], pts[-1])
    else:
        lines.append(f"No {LEARNING_CURVE} in the generator directory (the training loop writes it).")
    losses = _load(gen_dir / "losses.json")
    if isinstance(losses, list) and losses:
        q = max(1, len(losses) // 10)
        lines += ["", f"Training loss (losses.json, {len(losses)} steps): first tenth {sum(losses[:q]) / q:.4f}, "
                      f"last tenth {sum(losses[-q:]) / q:.4f}."]
    return lines + [""]


def summarize(d: Path, gen_dir: Path, name: str) -> str:
    """The ladder's summary of candidate directory `d` (OUT/NAME) as markdown."""
    div, rec = _load(d / "diversity.json"), _load(d / "recovery.json")
    rows, details = [], []
    if div is not None:
        p, sh = div["pairwise"], div["shuffled"]
        rows.append(["delta diversity", f"mean pairwise cosine {p['mean']:.3f} over {len(div['tasks'])} tasks",
                     "< 0.9", _ok(p["mean"] < COSINE_TARGET),
                     f"cosine true vs shuffled {sh['mean']:.3f} (target < 0.9): {_ok(sh['mean'] < COSINE_TARGET)}"])
        details += ["### Delta diversity", "", f"`{div.get('command', '')}`", "", "- " + div["line"], ""]
    else:
        rows.append(["delta diversity", "not run", "< 0.9", "–", "–"])
    if rec is not None and rec.get("summary"):
        s, dnd = rec["summary"], rec["method"]
        control = s["paired"].get(f"{dnd} - shuffled")
        fig = (f"undefined (the own LoRAs gain {_pts(s['own_gain'])} points over base)" if s["recovery"] is None
               else f"{100 * s['recovery']:.0f}% of the own-LoRA gain ({_pts(s['own_gain'])} points over base)")
        rows.append(["seen-task recovery", f"{fig}; {s['n_tasks']} training tasks", ">= 70% of the own-LoRA gain",
                     _ok(s["recovery"] is not None and s["recovery"] >= RECOVERY_TARGET), _control_cell(control)])
        details += ["### Seen-task recovery", "", f"`{rec.get('command', '')}`", "", "- " + s["line"],
                    f"- DnD minus multi-task LoRA: {_paired(s['paired'].get(f'{dnd} - multitask_lora'))}",
                    f"- control, shuffled condition: {_paired(control)} (target >= +2 points, interval above 0: "
                    f"{_ok(_control_met(control))})", ""]
    else:
        rows.append(["seen-task recovery", "not run (needs a zoo with the training tasks' LoRAs)",
                     ">= 70% of the own-LoRA gain", "–", "–"])
    far = [s for s in FAR_SUITES if (d / f"{s}.json").exists()] or [FAR_SUITES[0]]
    for stem, label in [("wide_val", "near-unseen (wide_val)")] + [(s, f"far-unseen ({s})") for s in far]:
        row, lines = _benchmark_rung(_load(d / f"{stem}.json"), label)
        rows.append(row)
        details += lines
    lines = [f"# Diagnostics ladder: `{name}`", "", f"Generator `{portable_path(gen_dir)}`; written "
             f"{time.strftime('%Y-%m-%d')} by `dnd diagnose summary` from `{portable_path(d)}` "
             "(`bash scripts/generator_ladder.sh GEN_DIR NAME [ZOO]` runs every rung).", "",
             "Controls: the generator conditioned on another task's prompts (shuffled); paired differences are in "
             "accuracy points, 95% interval (two-level bootstrap) and wins/ties/losses over tasks.", "",
             "| rung | figure | target | target met | control: true - shuffled (target: cosine < 0.9; "
             "accuracy >= +2 points, interval above 0) |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines + ["", "## Rungs", ""] + details + learning_curve_lines(gen_dir))
