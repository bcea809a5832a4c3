"""Seen-task recovery, the compression test (issue 21): does the generator give back, on its
own training tasks, what those tasks' LoRAs give?

For each of `n_tasks` training tasks of the generator that the zoo holds a LoRA for (picked
round-robin over domains in the generator's task order: a rule fixed before any score),
every method is scored on the same first `limit` items of the task's *eval pool* (never
trained on by the zoo, the multi-task LoRA or the generator), by log-likelihood:

    base            the base model
    full_shot       the task's own LoRA: the zoo's final checkpoint
    multitask_lora  the zoo's multi-task LoRA, where the zoo has one
    dnd:NAME        the generator conditioned on N fresh train-pool prompts: drawn (a seed
                    other than training's) from the prompts after the first `max_pool` of the
                    train pool (and after the labeled items of a separate `item_pool`), which
                    training never read, where at least N are there; else from the whole
                    train pool (the row says which)
    shuffled        control: the generator's adapter for the next picked task (its prompts)
    ceiling         optional (`ceiling_zoo`): the task's own LoRA from a second zoo trained the
                    same way on the top N layers only (`dnd zoo --top-layers N`), the most a
                    generator that writes only those layers could recover

    recovery = mean over tasks (DnD - base) / mean over tasks (own LoRA - base)   (target >= 70%)

also per task, with paired differences (dnd.evaluation.paired) DnD - base, DnD - multi-task,
DnD - shuffled, DnD - own. Resumable: every score is cached under OUT/work/recovery (keys of
dnd.evaluation.cached_scoring.Scorer: by task, item count and the adapter's weights digest, so
generators share the base, own-LoRA and multi-task pieces) and every generated adapter under
OUT/work/recovery/adapters/FINGERPRINT/seedS/TASK; OUT/NAME/recovery.{json,md} are rewritten
after every task.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.errors import DndError
from dnd.fileio import portable_path
from dnd.evaluation.ladder_report import RECOVERY_TARGET, candidate_dir, generator_identity, write_diagnostic
from dnd.generator.curve import HELD_OUT_ITEMS
from dnd.generator.model_condition import label_set

METHODS = ("base", "full_shot", "multitask_lora", "dnd", "shuffled")  # dnd: reported as dnd:NAME


@dataclass(frozen=True)
class RecoverySettings:
    generator: str  # GEN_DIR
    zoo: str  # its task LoRAs (final checkpoints) and multi-task LoRA
    out: str  # diagnostics root: OUT/NAME/recovery.*, cache OUT/work/recovery
    name: str
    n_tasks: int = 20
    limit: int | None = 100  # scored items per task (eval-pool order)
    multitask: str | None = None  # None: "wide" where the zoo has it, else its only one, else none
    seed: int | None = None  # the condition draw; None: the generator's training seed + 1
    precision: str = "fp32"  # base model weights while scoring (every method alike)
    batch_size: int = 16
    device: str = "cpu"
    ceiling_zoo: str | None = None  # own LoRAs of the top layers only: the `ceiling` column where it has the task


def seen_tasks(gen_tasks: list[str], zoo_tasks, n: int | None = None) -> list[str]:
    """The generator's tasks that the zoo has LoRAs for, round-robin over their domains in the
    generator's order (a cut keeps every domain), cut to `n`."""
    from dnd.tasks.registry import TASKS

    by_domain: dict[str, list[str]] = {}
    for t in gen_tasks:
        if t in zoo_tasks:
            by_domain.setdefault(TASKS[t].domain if t in TASKS else "", []).append(t)
    order, lists = [], list(by_domain.values())
    while any(lists):
        for tasks in lists:
            if tasks:
                order.append(tasks.pop(0))
    return order[:n] if n else order


def _multitask_entry(manifest: dict, want: str | None, zoo: Path):
    have = manifest.get("multitask", {})
    if want is not None:
        if want not in have:
            raise DndError(f"--multitask {want}: not in zoo {zoo} (it has: {', '.join(have) or 'none'})")
        return want, have[want]
    if "wide" in have:
        return "wide", have["wide"]
    return (next(iter(have)), next(iter(have.values()))) if len(have) == 1 else (None, None)


def _pct(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}" + ("%" if digits == 0 else "")


def _ratio(num: list[float], den: list[float]) -> float | None:
    d = sum(den) / len(den)
    return (sum(num) / len(num)) / d if d > 1e-12 else None


def _ratio_ci(num: list[float], den: list[float], seed: int = 0, n_boot: int = 2000):
    """95% percentile interval of `_ratio` with tasks resampled (None where it is undefined)."""
    rng, idx, vals = random.Random(seed), range(len(num)), []
    for _ in range(n_boot):
        pick = rng.choices(idx, k=len(num))
        r = _ratio([num[i] for i in pick], [den[i] for i in pick])
        if r is None:
            return None
        vals.append(r)
    vals.sort()
    return [vals[int(0.025 * n_boot)], vals[int(0.975 * n_boot) - 1]]


def summarize(results: dict) -> dict:
    """Means, recovery (DnD, multi-task and control), paired differences, targets, the line."""
    from dnd.evaluation.paired import paired_difference

    rows, dnd = results["tasks"], results["method"]
    if not rows:
        return {}
    methods = [m for m in ("base", "full_shot", "multitask_lora", dnd, "shuffled")
               if all(m in r["accuracy"] for r in rows.values())]
    col = {m: [r["accuracy"][m] for r in rows.values()] for m in methods}
    own_gain = [o - b for o, b in zip(col["full_shot"], col["base"])]
    out = {"n_tasks": len(rows), "mean": {m: sum(v) / len(v) for m, v in col.items()},
           "own_gain": sum(own_gain) / len(own_gain)}
    for m, key in ((dnd, "recovery"), ("multitask_lora", "multitask_recovery"), ("shuffled", "shuffled_recovery")):
        if m in col:
            gain = [a - b for a, b in zip(col[m], col["base"])]
            out[key], out[f"{key}_ci95"] = _ratio(gain, own_gain), _ratio_ci(gain, own_gain)
    pairs = [(dnd, "base"), (dnd, "multitask_lora"), (dnd, "shuffled"), (dnd, "full_shot"), ("full_shot", "base"),
             ("multitask_lora", "base")]
    out["paired"] = {}
    for a, b in pairs:
        if a in col and b in col:
            d = paired_difference({t: r["correct"][a] for t, r in rows.items()},
                                  {t: r["correct"][b] for t, r in rows.items()})
            out["paired"][f"{a} - {b}"] = {"a": a, "b": b, **d.to_json()}
    capped = {t: r for t, r in rows.items() if "ceiling" in r["accuracy"]}
    if capped:
        out["ceiling"] = _ceiling(capped, dnd)
    rec = out.get("recovery")
    control = out["paired"].get(f"{dnd} - shuffled")
    out["targets"] = {f"recovery >= {100 * RECOVERY_TARGET:.0f}% of the own-LoRA gain over base":
                      rec is not None and rec >= RECOVERY_TARGET}
    if control is not None:
        out["targets"]["true condition >= shuffled + 2 points, interval above 0"] = \
            control["mean"] >= 0.02 and control["ci95"][0] > 0
    met = "met" if rec is not None and rec >= RECOVERY_TARGET else "**missed**"
    what = ("recovery undefined: the own LoRAs gain nothing over base" if rec is None
            else f"DnD recovers **{100 * rec:.0f}%** of the own-LoRA gain over base")
    mt = out.get("multitask_recovery")
    out["line"] = (f"seen-task recovery over {len(rows)} training tasks: {what} ({100 * out['own_gain']:+.1f} points; "
                   f"target >= 70%: {met})" + ("" if mt is None else f"; the multi-task LoRA {100 * mt:.0f}%"))
    return out


def _ceiling(rows: dict, dnd: str) -> dict:
    """On the tasks the ceiling zoo holds: the recovery of its top-layer own LoRAs and of DnD
    (both over the full own LoRAs' gain), and DnD - ceiling paired."""
    from dnd.evaluation.paired import paired_difference

    col = {m: [r["accuracy"][m] for r in rows.values()] for m in ("base", "full_shot", "ceiling", dnd)}
    own = [o - b for o, b in zip(col["full_shot"], col["base"])]
    out = {"n_tasks": len(rows), "mean": {m: sum(v) / len(v) for m, v in col.items()}}
    for m, key in (("ceiling", "recovery"), (dnd, "dnd_recovery")):
        gain = [a - b for a, b in zip(col[m], col["base"])]
        out[key], out[f"{key}_ci95"] = _ratio(gain, own), _ratio_ci(gain, own)
    d = paired_difference({t: r["correct"][dnd] for t, r in rows.items()},
                          {t: r["correct"]["ceiling"] for t, r in rows.items()})
    out["paired"] = {f"{dnd} - ceiling": {"a": dnd, "b": "ceiling", **d.to_json()}}
    return out


def scorable_items(candidates: list[str], limit: int | None, n: int) -> dict[str, list]:
    """The first `n` candidates whose scored eval-pool items all have choices (log-likelihood
    needs them), in order, with those items."""
    from dnd.tasks.registry import load_pools

    picked = {}
    for task in candidates:
        items = load_pools(task)[1][:limit] if limit else load_pools(task)[1]
        if items and all(it.choices for it in items):
            picked[task] = items
        if len(picked) == n:
            break
    return picked


class FreshAdapters:
    """The generator's adapter for a task from N fresh train-pool prompts (those after the
    first `read`, which training never read, where at least N are there; else the whole train
    pool), cached on disk under ROOT/TASK and in memory; returns (state, where the prompts came from)."""

    def __init__(self, gen, root: Path, read: int, seed: int):
        self.gen, self.root, self.read, self.seed, self._got = gen, root, read, seed, {}

    def __call__(self, task: str) -> tuple[dict, str]:
        from dnd.lora.io import read_adapter
        from dnd.tasks.registry import load_pools

        if task not in self._got:
            items = load_pools(task)[0]
            pool = [it.prompt for it in items]
            kw = {"choices": label_set(items)} if self.gen.reads_model else {}  # a model condition reads the answer set
            fresh = len(pool) - self.read >= self.gen.config.condition.n_prompts
            path = self.root / task
            if not (path / ADAPTER_WEIGHTS).exists():
                self.gen.save_adapter(self.gen.generate(pool[self.read:] if fresh else pool, seed=self.seed, **kw), path,
                                      info={"task": task, "seed": self.seed, "fresh_prompts": fresh})
            where = f"fresh (train pool after {self.read})" if fresh else "whole train pool (seen in training)"
            self._got[task] = read_adapter(path), where
        return self._got[task]


def run_recovery(s: RecoverySettings, command: str = "") -> dict:
    """Score every method on every picked task; returns the results (also written)."""
    from dnd.lora.io import adapter_settings, read_adapter
    from dnd.evaluation.reproduce import Cache
    from dnd.evaluation.cached_scoring import Runner, Scorer
    from dnd.generator.generate import Generator
    from dnd.zoo import manifest as zm
    from dnd.lora.settings import LoraSettings

    identity = generator_identity(s.generator)  # checks the generator's files against its manifest
    d = candidate_dir(s.out, s.name, identity)
    zoo = Path(s.zoo)
    manifest = zm.load_manifest(zoo)
    gen = Generator.from_pretrained(s.generator, device=s.device, verify=False)
    if manifest["base_model"].get("weights_sha256") != gen.base_model.get("weights_sha256"):
        raise DndError(f"--zoo {zoo}: built for base model {manifest['base_model']['name']}, the generator for "
                       f"{gen.base_model['name']} (different weights)")
    candidates = seen_tasks(gen.saved["tasks"], manifest["tasks"])
    if not candidates:
        raise DndError(f"--zoo {zoo}: holds no LoRA of the generator's {len(gen.saved['tasks'])} training tasks")
    mt_name, mt_entry = _multitask_entry(manifest, s.multitask, zoo)
    seed = gen.config.train.seed + 1 if s.seed is None else s.seed
    n, t = gen.config.condition.n_prompts, gen.config.train
    read = t.max_pool + (HELD_OUT_ITEMS + t.item_pool if t.item_pool else 0)  # train-pool items training read
    work = Path(s.out) / "work" / "recovery"
    runner = Runner(manifest["base_model"]["name"], s.device, s.precision)
    scorer = Scorer(Cache(work), runner, "loglik", s.batch_size, max_length=1024)  # dnd benchmark's prompt budget
    zoo_lora = LoraSettings.from_json(manifest["lora"])
    if mt_entry is not None:
        mt = read_adapter(zoo / mt_entry["path"]), adapter_settings(zoo / mt_entry["path"])
    ceiling = _ceiling_zoo(s.ceiling_zoo, manifest) if s.ceiling_zoo else None
    dnd = f"dnd:{s.name}"
    items_of = scorable_items(candidates, s.limit, s.n_tasks)
    picked = list(items_of)
    if not picked:
        raise DndError(f"--zoo {zoo}: none of the generator's tasks it holds has choices on every scored item "
                       "(log-likelihood needs them)")
    settings = {**asdict(s), "seed": seed, "multitask": mt_name}
    results = {"diagnostic": "recovery", "command": command, "date": time.strftime("%Y-%m-%d"),
               "settings": settings, "zoo": {"path": portable_path(zoo), "tasks": len(manifest["tasks"])},
               **({"ceiling_zoo": ceiling["about"]} if ceiling else {}),
               "base_model": manifest["base_model"], "method": dnd, "picked": picked, "n_prompts": n, "tasks": {}}
    generated = FreshAdapters(gen, work / "adapters" / identity["fingerprint"] / f"seed{seed}", read, seed)
    for i, task in enumerate(picked):
        items, acc, correct = items_of[task], {}, {}

        def put(method: str, hit: dict) -> None:
            acc[method], correct[method] = hit["accuracy"], hit["correct"]

        put("base", scorer.score(task, "base", None, zoo_lora, items))
        put("full_shot", scorer.adapter(task, read_adapter(zoo / manifest["tasks"][task]["full_shot"]["path"]),
                                        zoo_lora, items))
        if mt_entry is not None:
            put("multitask_lora", scorer.adapter(task, *mt, items))
        if ceiling and task in ceiling["manifest"]["tasks"]:
            put("ceiling", scorer.adapter(task, read_adapter(ceiling["dir"] / ceiling["manifest"]["tasks"][task]
                                                             ["full_shot"]["path"]), ceiling["lora"], items))
        state, where = generated(task)
        put(dnd, scorer.adapter(task, state, gen.lora, items))
        donor = picked[(i + 1) % len(picked)]
        if donor != task:
            put("shuffled", scorer.adapter(task, generated(donor)[0], gen.lora, items))
        gain = acc["full_shot"] - acc["base"]
        results["tasks"][task] = {
            "n_items": len(items), "prompts": where, "shuffled_from": donor, "accuracy": acc, "correct": correct,
            "recovery": (acc[dnd] - acc["base"]) / gain if gain > 1e-12 else None}
        results["summary"] = summarize(results)
        results["scored_pieces"] = scorer.computed
        write_diagnostic(d, "recovery", results, write_markdown(results), identity)
    return results


def _ceiling_zoo(path: str, zoo_manifest: dict) -> dict:
    """The ceiling zoo's manifest, LoRA shape and description; refused if its base model is
    not the zoo's or its LoRAs were trained on every layer."""
    from dnd.lora.settings import LoraSettings
    from dnd.zoo import manifest as zm

    d = Path(path)
    if not (d / zm.MANIFEST).exists():
        raise DndError(f"--ceiling-zoo {path}: not a zoo (no {zm.MANIFEST})")
    m = zm.load_manifest(d)
    if m["base_model"].get("weights_sha256") != zoo_manifest["base_model"].get("weights_sha256"):
        raise DndError(f"--ceiling-zoo {path}: built for base model {m['base_model']['name']}, not the zoo's")
    layers = {e.get("top_layers", 0) for e in m["tasks"].values()}
    if not m["tasks"] or 0 in layers or len(layers) > 1:
        raise DndError(f"--ceiling-zoo {path}: its task LoRAs must all be trained on the same top layers "
                       "(`dnd zoo --top-layers N`)")
    return {"dir": d, "manifest": m, "lora": LoraSettings.from_json(m["lora"]),
            "about": {"path": portable_path(d), "tasks": len(m["tasks"]), "top_layers": layers.pop()}}


def write_markdown(r: dict) -> str:
    """recovery.md: the line, means, paired differences and the per-task table."""
    from dnd.evaluation.unseen_report import _header, _paired_lines

    s, st = r["summary"], r["settings"]
    mt = f"multi-task LoRA `{st['multitask']}`" if st["multitask"] else "the zoo has no multi-task LoRA"
    lines = [f"# Seen-task recovery: `{st['name']}`", "", f"Date: {r['date']}. Command:", "",
             f"```\n{r['command']}\n```", "",
             f"Generator `{st['generator']}`, zoo `{st['zoo']}` (full-shot LoRA = the task's own zoo LoRA, its final "
             f"checkpoint; {mt}). {s['n_tasks']} training tasks, the first {st['limit'] or 'all'} eval-pool items "
             f"each, log-likelihood, base weights in {st['precision']}; DnD conditioned on N = {r['n_prompts']} "
             f"train-pool prompts (seed {st['seed']}).", "", "- " + s["line"]]
    for key, what in (("recovery", "DnD"), ("multitask_recovery", "multi-task LoRA"),
                      ("shuffled_recovery", "control: shuffled")):
        if key in s:
            ci = s.get(f"{key}_ci95")
            lines.append(f"- recovery, {what}: {_pct(s[key])}" + (f" (tasks resampled: {_pct(ci[0])} to {_pct(ci[1])})"
                                                                   if ci else ""))
    if "ceiling" in s:
        c, top = s["ceiling"], r["ceiling_zoo"]["top_layers"]
        ci, dci = c["recovery_ci95"], c["dnd_recovery_ci95"]
        lines.append(f"- ceiling: on the {c['n_tasks']} tasks of `{r['ceiling_zoo']['path']}`, own LoRAs trained on the "
                     f"top {top} layers only recover {_pct(c['recovery'])}" + (f" ({_pct(ci[0])} to {_pct(ci[1])})" if ci else "")
                     + f" of the full own LoRAs' gain; DnD on the same tasks {_pct(c['dnd_recovery'])}"
                     + (f" ({_pct(dci[0])} to {_pct(dci[1])})" if dci else ""))
    lines += [f"- target: {t}: {'met' if ok else '**missed**'}" for t, ok in s["targets"].items()]
    lines += ["", "| method | mean accuracy % |", "|---|---|"]
    lines += [f"| {_header(m)} | {100 * v:.1f} |" for m, v in s["mean"].items()]
    lines += _paired_lines({**s["paired"], **s.get("ceiling", {}).get("paired", {})})
    methods = list(s["mean"]) + (["ceiling"] if "ceiling" in s else [])
    lines += ["", "## Per task", "", "| task | n | " + " | ".join(_header(m) for m in methods)
              + " | recovery | prompts |", "|---|---|" + "---|" * (len(methods) + 2)]
    for task, row in r["tasks"].items():
        rec = "–" if row["recovery"] is None else f"{100 * row['recovery']:.0f}%"
        lines.append(f"| {task} | {row['n_items']} | " + " | ".join(_pct(row["accuracy"].get(m), 1) for m in methods)
                     + f" | {rec} | {row['prompts']} |")
    return "\n".join(lines) + "\n"
