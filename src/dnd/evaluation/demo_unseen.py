"""`dnd demo`: the shipped generator on three BIG-bench tasks it never saw (minutes, 2 CPU cores).

For each demo task (`demo_tasks`: a fixed rule, not chosen by results) an adapter is
generated from the first 32 unlabeled prompts of the task's train pool, and the base model,
the generated adapter (DnD) and the multi-task LoRA (the generator's residual reference,
trained on the `wide` suite) are scored on the first 30 items of its eval pool by the
log-likelihood of the choices. One eval prompt per task is answered greedily by the base
model and by the adapter. Scores, answers and adapters are cached under the output
directory (default $DND_CACHE/demo-unseen), keyed by the generator's checksum, so a rerun
prints at once; a chart goes to demo.png and every figure to demo.json.

Tasks, condition prompts, items, seed and scoring are those of the unseen benchmark
(`dnd benchmark --suite unseen`, dnd.evaluation.unseen), and so are its defaults (30 items,
bf16 scoring: `scripts/unseen_benchmark.sh`), so the demo prints the committed benchmark's
figures for these tasks (results/unseen.md) as long as the generator's weights agree (the shipped copy stores them in bf16: run the demo with
`--generator SOURCE_DIR` to score the source generator itself).
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from dnd.artifacts import check_generator_dir, load_safetensors, read_json_file
from dnd.assets import cache_dir
from dnd.evaluation.adapters import AdapterModel, read_adapter
from dnd.evaluation.reproduce import Cache
from dnd.evaluation.scoring import CACHE_NAMES, evaluate_items, generate_answers
from dnd.fileio import atomic_write, sha256_file, write_json
from dnd.generator import config as C
from dnd.generator.generate import GENERATION_INFO
from dnd.generator.pretrained import resolve
from dnd.tasks.registry import load_pools, pick_tasks
from dnd.zoo.lora import LoraSettings
from dnd.zoo.manifest import ADAPTER_WEIGHTS

PROTOCOL = "loglik"
COLUMNS = (("base", "base model"), ("dnd", "DnD (generated)"), ("multitask", "multi-task LoRA"))


def demo_tasks(n: int = 3) -> list[str]:
    """The rule: the unseen benchmark's first `n` tasks (`pick_tasks`: round-robin over the
    domains in suite order), i.e. the first task of each of the first `n` domains of suite
    `unseen`. Fixed by the suite alone, never by results."""
    return pick_tasks("unseen", n)


@dataclass(frozen=True)
class UnseenDemoSettings:
    out: str | None = None  # default: $DND_CACHE/demo-unseen
    generator: str | None = None  # default: the shipped generator
    tasks: tuple[str, ...] | None = None  # default: demo_tasks()
    n_prompts: int = 32  # unlabeled train-pool prompts per adapter (the first ones)
    limit: int = 30  # scored eval-pool items per task (the first ones), as the committed benchmark
    answer_tokens: int = 48  # greedy tokens of the shown answers
    precision: str = "bf16"  # of the base model while scoring, as the committed benchmark
    device: str = "cpu"


class _Models:
    """What the demo loads only on a cache miss: the generator, and one base model per LoRA
    shape (the generated adapter's rank is the reference's plus the delta's)."""

    def __init__(self, gen_dir: Path, base_model: str, device: str, precision: str):
        self.gen_dir, self.base_model, self.device, self.precision = gen_dir, base_model, device, precision
        self._generator = None
        self._runners: dict[LoraSettings, AdapterModel] = {}

    def generator(self):
        from dnd.generator.generate import Generator

        if self._generator is None:
            self._generator = Generator.from_pretrained(self.gen_dir, device=self.device)
        return self._generator

    def runner(self, lora: LoraSettings) -> AdapterModel:
        if lora not in self._runners:
            self._runners[lora] = AdapterModel(self.base_model, lora, self.device, self.precision)
        return self._runners[lora]


def run_unseen_demo(s: UnseenDemoSettings) -> dict:
    """Generate, score and show; returns what demo.json holds."""
    t_start = time.perf_counter()
    out = Path(s.out or cache_dir() / "demo-unseen")
    gen_dir = resolve(s.generator)
    check_generator_dir(gen_dir, verify=True)
    saved = read_json_file(gen_dir / C.CONFIG)
    fp = sha256_file(gen_dir / C.MANIFEST)[:12]  # the manifest lists every file's sha256
    dnd_id = f"{fp}-p{s.n_prompts}"  # generator and prompts: what a generated adapter depends on
    # columns named by their weights (cache keys): base model, generator and prompts, reference
    base_col, dnd_col = f"base-{saved['base_model']['weights_sha256'][:12]}", f"dnd-{dnd_id}"
    adapter_lora = LoraSettings.from_json(saved.get("adapter_lora", saved["lora"]))
    ref_lora = LoraSettings.from_json(saved["reference_lora"]) if "reference_lora" in saved else None
    ref_sha = read_json_file(gen_dir / C.MANIFEST).get(C.REFERENCE, "")[:12]
    ref = {k: v.float() for k, v in load_safetensors(gen_dir / C.REFERENCE).items()} if ref_lora else None
    models, cache = _Models(gen_dir, saved["base_model"]["name"], s.device, s.precision), Cache(out)
    tasks = list(s.tasks or demo_tasks())
    seen = sorted(set(saved["tasks"]) & set(tasks))
    warn = f" (warning: it was trained on {', '.join(seen)})" if seen else ""
    print(f"dnd demo: the generator {gen_dir}, trained on {len(saved['tasks'])} tasks, on {', '.join(tasks)}{warn}",
          flush=True)

    def cached(key: str, compute):
        hit = cache.get(key)
        if hit is None:
            hit = compute()
            cache.put(key, hit)
        return hit

    def score(task: str, items, column: str, lora: LoraSettings, state) -> dict:
        def compute() -> dict:
            run = models.runner(lora).use(state)
            return evaluate_items(run.model, run.tokenizer, items, PROTOCOL, progress=f"{task} {column}").summary()

        name = CACHE_NAMES[PROTOCOL] + ("" if s.precision == "fp32" else f"-{s.precision}")
        return cached(f"{name}/n{len(items)}/{task}/{column}", compute)

    def answer(task: str, item, column: str, state) -> str:
        def compute() -> str:
            run = models.runner(adapter_lora).use(state)
            return generate_answers(run.model, run.tokenizer, [item], max_new_tokens=s.answer_tokens)[0]

        return cached(f"answers/t{s.answer_tokens}-{s.precision}/{task}/{column}", compute)

    results = {"generator": str(gen_dir), "generator_manifest_sha256": fp, "base_model": saved["base_model"],
               "protocol": PROTOCOL, "precision": s.precision, "n_prompts": s.n_prompts, "limit": s.limit, "trained_on": seen, "tasks": {}}
    for i, task in enumerate(tasks, 1):
        train_pool, eval_pool = load_pools(task)
        items = eval_pool[: s.limit]
        adapter_dir = out / "adapters" / dnd_id / task
        if not (adapter_dir / ADAPTER_WEIGHTS).exists():
            gen = models.generator()
            t0 = time.perf_counter()
            state = gen.generate([it.prompt for it in train_pool[: s.n_prompts]])
            gen.save_adapter(state, adapter_dir, info={"task": task, "prompts": f"first {s.n_prompts} of the train pool",
                                                       "generate_s": round(time.perf_counter() - t0, 3)})
        gen_s = read_json_file(adapter_dir / GENERATION_INFO)["generate_s"]
        print(f"[{i}/{len(tasks)}] {task}: adapter from {s.n_prompts} unlabeled prompts in {gen_s:.2f} s; "
              f"scoring {len(items)} eval items", flush=True)
        dnd_state = read_adapter(adapter_dir)
        row = {"base": score(task, items, base_col, adapter_lora, None),
               "dnd": score(task, items, dnd_col, adapter_lora, dnd_state)}
        if ref_lora is not None:
            row["multitask"] = score(task, items, f"multitask-{ref_sha}", ref_lora, ref)
        shown = items[0]
        row["example"] = {"prompt": shown.prompt, "answer": shown.answer,
                          "base": answer(task, shown, base_col, None), "dnd": answer(task, shown, dnd_col, dnd_state)}
        row["generate_s"] = gen_s
        results["tasks"][task] = row
    write_json(out / "demo.json", results)
    chart(out / "demo.png", results)
    print_report(results, out, time.perf_counter() - t_start)
    return results


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _columns(results: dict) -> list[tuple[str, str]]:
    """(key, name) of the columns every task has (no multi-task LoRA without a reference)."""
    return [(k, name) for k, name in COLUMNS if all(k in r for r in results["tasks"].values())]


def print_report(results: dict, out: Path, total_s: float) -> None:
    rows, cols = results["tasks"], _columns(results)
    never = "" if results["trained_on"] else "; the generator never saw these tasks"
    print(f"\nAccuracy (%) on the first {results['limit']} eval-pool items of each task "
          f"(log-likelihood of the choices){never}:\n")
    w = max(map(len, rows)) + 2
    print(f"  {'task':<{w}}" + "".join(f"{name:>18}" for _, name in cols) + f"{'DnD - base':>12}")
    for task, r in rows.items():
        cells = "".join(f"{100 * r[k]['accuracy']:>18.1f}" for k, _ in cols)
        print(f"  {task:<{w}}{cells}{100 * (r['dnd']['accuracy'] - r['base']['accuracy']):>+12.1f}")
    half = max((r[k]["ci95"][1] - r[k]["ci95"][0]) / 2 for r in rows.values() for k, _ in cols)
    print(f"  (95% Wilson intervals: up to ±{100 * half:.0f} points per cell at this size; demo.json has each)")
    for task, r in rows.items():
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

    tasks, cols = list(results["tasks"]), _columns(results)
    width = 0.8 / len(cols)
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(tasks)), 4.2))
    for j, (k, name) in enumerate(cols):
        bars = ax.bar([i + j * width for i in range(len(tasks))],
                      [100 * results["tasks"][t][k]["accuracy"] for t in tasks], width, label=name)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    labels = [textwrap.fill(t.removeprefix("bb_").replace("_", " "), 24) for t in tasks]
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))], labels, fontsize=8)
    ax.set_ylim(0, 112)
    ax.set_ylabel(f"accuracy % (first {results['limit']} eval items, log-likelihood)")
    ax.set_title("dnd demo: unseen BIG-bench tasks, adapters from unlabeled prompts", fontsize=10)
    ax.legend(fontsize=8, ncol=len(cols), loc="upper center")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
