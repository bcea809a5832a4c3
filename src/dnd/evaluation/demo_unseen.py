"""`dnd demo`: the shipped generator on three BIG-bench tasks it never saw (minutes, 2 CPU cores).

For each demo task (`demo_tasks`: a fixed rule, not chosen by results) an adapter is
generated from the first 32 unlabeled prompts of the task's train pool, and the base model,
the generated adapter (DnD) and the multi-task LoRA (the generator's residual reference,
trained on the `wide` suite) are scored on the first 100 items of its eval pool by the
log-likelihood of the choices. The base model and DnD are also shown calibrated: batch
calibration (dnd.evaluation.calibration) with the label prior each shows on the same 32
unlabeled prompts, so no label is read; a task whose options vary per item keeps its plain
scores there. One eval prompt per task is answered greedily by the base model and by the
adapter. Scores (with each item's choice scores), priors, answers and adapters are cached
under the output directory (default $DND_CACHE/demo-unseen), keyed by the generator's
checksum, so a rerun prints at once; a chart goes to demo.png and every figure to demo.json.

Tasks, condition prompts, items, seed, scoring and calibration are those of the unseen
benchmark (`dnd benchmark --suite unseen`, dnd.evaluation.unseen: its `calibrated` and
`dnd:NAME+calibrated` methods), and so are its defaults (100 items, bf16 scoring:
`scripts/unseen_benchmark.sh`), so the demo prints the committed benchmark's figures for
these tasks (results/unseen.md) as long as the generator's weights agree (the shipped copy
stores them in bf16: run the demo with `--generator SOURCE_DIR` to score the source
generator itself).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from dnd.artifacts import ADAPTER_WEIGHTS, check_generator_dir, load_safetensors, read_json_file
from dnd.assets import cache_dir
from dnd.evaluation.calibration import Calibration, calibrated_choice, estimate, label_set
from dnd.evaluation.demo_report import NOT_CALIBRATED, chart, print_report
from dnd.evaluation.reproduce import Cache
from dnd.evaluation.scoring import CACHE_NAMES, evaluate_items, generate_answers, wilson
from dnd.fileio import sha256_file, write_json
from dnd.generator import config as C
from dnd.generator.generate import GENERATION_INFO
from dnd.generator.pretrained import resolve
from dnd.lora.io import read_adapter
from dnd.tasks.bigbench_cache import is_cached
from dnd.tasks.builders_bigbench import required_files
from dnd.lora.settings import LoraSettings
from dnd.lora.swap import AdapterModel
from dnd.tasks.items import Item
from dnd.tasks.registry import load_pools, pick_tasks

PROTOCOL = "loglik"
RULE, SEED = "batch", 0  # the benchmark's calibration of the committed run (and its seed)


def demo_tasks(n: int = 3, suite: str | None = None) -> list[str]:
    """The rule: the unseen benchmark's first `n` tasks (`pick_tasks`: round-robin over the
    domains in suite order), i.e. the first task of each of the first `n` domains of suite
    `unseen`. Fixed by the suite alone, never by results. Where the BIG-bench data cannot be
    had (its sdist left PyPI: dnd.tasks.bigbench_fetch), the same rule on suite `wide_val`:
    tasks held out of the generator's training, though used to choose it. `suite` (e.g.
    `heldout`, the never-trained suite built from PyPI data) applies the rule to that suite."""
    return pick_tasks(suite or demo_suite(), n)


def demo_suite() -> str:
    """`unseen` where its BIG-bench files are cached, else `wide_val`."""
    return "unseen" if is_cached(required_files()) else "wide_val"


@dataclass(frozen=True)
class UnseenDemoSettings:
    out: str | None = None  # default: $DND_CACHE/demo-unseen
    generator: str | None = None  # default: the shipped generator
    tasks: tuple[str, ...] | None = None  # default: demo_tasks(suite=suite)
    suite: str | None = None  # the demo tasks' suite (default: demo_suite())
    n_prompts: int = 32  # unlabeled train-pool prompts per adapter and per prior (the first ones)
    limit: int = 100  # scored eval-pool items per task (the first ones), as the committed benchmark
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


def figures(piece: dict) -> dict:
    """What demo.json keeps of a cached score piece: all but the per-item choice scores."""
    return {k: v for k, v in piece.items() if k != "norm"}


def rescore(items: list[Item], piece: dict, cal: Calibration) -> dict:
    """The cached piece's items re-picked under `cal` (as the benchmark's `calibrated`):
    accuracy, interval and per-item correctness; labels are read only to count."""
    correct = [int(it.choices[calibrated_choice(cal, it.choices, norm)] == it.answer)
               for it, norm in zip(items, piece["norm"])]
    k, n = sum(correct), len(correct)
    return {"protocol": PROTOCOL, "n": n, "accuracy": k / max(n, 1), "ci95": list(wilson(k, n)),
            "correct": correct, "calibration": cal.to_json()}


class _Scorer:
    """Cached pieces of one demo run: scores (with per-item `norm`), priors and answers; each
    computed with `models` only on a miss."""

    def __init__(self, cache: Cache, models: _Models, s: UnseenDemoSettings):
        self.cache, self.models, self.s = cache, models, s
        self.suffix = "" if s.precision == "fp32" else f"-{s.precision}"

    def cached(self, key: str, compute, valid=lambda hit: True):
        hit = self.cache.get(key)
        if hit is None or not valid(hit):
            hit = compute()
            self.cache.put(key, hit)
        return hit

    def score(self, task: str, items, column: str, lora: LoraSettings, state) -> dict:
        """Summary, per-item `correct` and per-item `norm` (length-normalized choice scores)."""
        def compute() -> dict:
            run = self.models.runner(lora).use(state)
            r = evaluate_items(run.model, run.tokenizer, items, PROTOCOL, progress=f"{task} {column}")
            return {**r.summary(), "correct": [int(p["correct"]) for p in r.predictions],
                    "norm": [p["norm"] for p in r.predictions]}

        key = f"{CACHE_NAMES[PROTOCOL]}{self.suffix}/n{len(items)}/{task}/{column}"
        return self.cached(key, compute, valid=lambda hit: "norm" in hit)  # older pieces lack the scores

    def prior(self, task: str, prompts: list[str], labels, column: str, lora: LoraSettings, state) -> Calibration:
        """The label prior that `column`'s model (with `state`) shows on the unlabeled `prompts`."""
        def compute() -> dict:
            run = self.models.runner(lora).use(state)
            return estimate(run.model, run.tokenizer, prompts, labels, RULE, seed=SEED).to_json()

        return Calibration.from_json(self.cached(f"calib{self.suffix}/{task}/{column}_{RULE}_n{len(prompts)}", compute))

    def answer(self, task: str, item, column: str, lora: LoraSettings, state) -> str:
        def compute() -> str:
            run = self.models.runner(lora).use(state)
            return generate_answers(run.model, run.tokenizer, [item], max_new_tokens=self.s.answer_tokens)[0]

        return self.cached(f"answers/t{self.s.answer_tokens}-{self.s.precision}/{task}/{column}", compute)

    def plain_and_calibrated(self, task, items, prompts, column, lora, state) -> tuple[dict, dict]:
        """(plain, calibrated) figures of one model; calibrated == plain, with no prior, for a
        task whose options vary per item."""
        piece, labels = self.score(task, items, column, lora, state), label_set(items)
        if labels is None:
            return figures(piece), {**figures(piece), "calibration": None}
        return figures(piece), rescore(items, piece, self.prior(task, prompts, labels, column, lora, state))


def _adapter(models: _Models, out: Path, task: str, prompts: list[str]) -> Path:
    """The task's generated adapter directory (generated from `prompts` on a miss)."""
    if not (out / ADAPTER_WEIGHTS).exists():
        gen = models.generator()
        t0 = time.perf_counter()
        state = gen.generate(prompts)
        gen.save_adapter(state, out, info={"task": task, "prompts": f"first {len(prompts)} of the train pool",
                                           "generate_s": round(time.perf_counter() - t0, 3)})
    return out


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
    scorer = _Scorer(Cache(out), _Models(gen_dir, saved["base_model"]["name"], s.device, s.precision), s)
    if not s.tasks and not s.suite and demo_suite() != "unseen":
        print("dnd demo: no BIG-bench cache (python -m dnd.tasks.bigbench_fetch): showing wide_val tasks, held out "
              "of the generator's training but used to choose it (--suite heldout: never-trained tasks built from "
              "PyPI data)", flush=True)
    tasks = list(s.tasks or demo_tasks(suite=s.suite))
    seen = sorted(set(saved["tasks"]) & set(tasks))
    warn = f" (warning: it was trained on {', '.join(seen)})" if seen else ""
    print(f"dnd demo: the generator {gen_dir}, trained on {len(saved['tasks'])} tasks, on {', '.join(tasks)}{warn}",
          flush=True)
    results = {"generator": str(gen_dir), "generator_manifest_sha256": fp, "base_model": saved["base_model"],
               "protocol": PROTOCOL, "precision": s.precision, "n_prompts": s.n_prompts, "limit": s.limit,
               "calibration_rule": RULE, "trained_on": seen, "suite": None if s.tasks else s.suite or demo_suite(),
               "tasks": {}}
    for i, task in enumerate(tasks, 1):
        train_pool, eval_pool = load_pools(task)
        # the same first n_prompts unlabeled prompts condition the generator and give both priors
        items, prompts = eval_pool[: s.limit], [it.prompt for it in train_pool[: s.n_prompts]]
        adapter_dir = _adapter(scorer.models, out / "adapters" / dnd_id / task, task, prompts)
        gen_s = read_json_file(adapter_dir / GENERATION_INFO)["generate_s"]
        print(f"[{i}/{len(tasks)}] {task}: adapter from {s.n_prompts} unlabeled prompts in {gen_s:.2f} s; "
              f"scoring {len(items)} eval items", flush=True)
        dnd_state = read_adapter(adapter_dir)
        row: dict = {"calibration": "applied" if label_set(items) else NOT_CALIBRATED}
        row["base"], row["calibrated"] = scorer.plain_and_calibrated(task, items, prompts, base_col, adapter_lora, None)
        row["dnd"], row["dnd+calibrated"] = scorer.plain_and_calibrated(task, items, prompts, dnd_col, adapter_lora,
                                                                        dnd_state)
        if ref_lora is not None:
            row["multitask"] = figures(scorer.score(task, items, f"multitask-{ref_sha}", ref_lora, ref))
        shown = items[0]
        row["example"] = {"prompt": shown.prompt, "answer": shown.answer,
                          "base": scorer.answer(task, shown, base_col, adapter_lora, None),
                          "dnd": scorer.answer(task, shown, dnd_col, adapter_lora, dnd_state)}
        row["generate_s"] = gen_s
        results["tasks"][task] = row
    write_json(out / "demo.json", results)
    chart(out / "demo.png", results)
    print_report(results, out, time.perf_counter() - t_start)
    return results
