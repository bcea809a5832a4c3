"""The unseen-task benchmark: generators trained on one suite (e.g. `wide`), scored on tasks
that none of our models trained on (BIG-bench `unseen`; `heldout`, built from PyPI data where
BIG-bench cannot be had; or the `wide_val` validation tasks),
against every label-free baseline, in-context learning and a full-shot upper reference.

For each scored task T, every method is scored on the same first `limit` items of T's eval
pool; T's train pool only gives condition prompts, ICL shots and the full-shot LoRA's items:

    base               the base model
    training_lora_mean mean accuracy of a fixed seeded sample of the zoo's LoRAs
    average_lora       the weight average of every zoo LoRA
    nearest_lora       the zoo LoRA whose task's prompts are closest to T's (encoder space); with
                       nearest_among, retrieved among a whole task set (the zoo needs only the hits)
    multitask_lora     one LoRA trained on the union of the zoo's tasks
    icl_1, icl_k       1-shot and k-shot in-context learning (train-pool shots)
    full_shot          a LoRA trained on T's own train pool (upper reference; it stays in
                       OUT/work and never enters a zoo or a generator)
    dnd:NAME           each generator, conditioned on N unlabeled prompts of T's train pool
    calibrated         label-free calibration (dnd.evaluation.calibration) from the same N
                       unlabeled prompts: the base model (`calibrated`, and
                       `calibrated_domain` with the domain-context rule), the multi-task
                       LoRA and every generator's adapter (`...+calibrated`); tasks whose
                       options vary per item keep their plain scores
    shuffled           control (method `controls`): the primary generator (the first)
                       conditioned on the next scored task's prompts
    random_text        control: the primary generator conditioned on random token strings

Resumable: each accuracy, generated adapter and full-shot LoRA is cached under
OUT/work/SUITE; OUT/SUITE.{json,md,png} are rewritten after every task.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import random
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.assets import load_base_model
from dnd.errors import DndError
from dnd.evaluation import baselines
from dnd.evaluation.calibration import Calibration, calibrated_choice, estimate, label_set
from dnd.evaluation.reproduce import Cache
from dnd.evaluation.scoring import CACHE_NAMES, evaluate_items
from dnd.fileio import atomic_dir, read_json, write_json
from dnd.generator.generate import Generator
from dnd.lora.attach import attach_lora
from dnd.lora.combine import average_states
from dnd.lora.io import adapter_settings, read_adapter
from dnd.lora.settings import LoraSettings
from dnd.lora.swap import AdapterModel
from dnd.lora.train import TrainSettings, train_lora
from dnd.tasks.registry import load_pools, pick_tasks
from dnd.zoo import manifest as zm
from dnd.zoo.build import INIT_SEED

METHODS = ("base", "training_loras", "average", "nearest", "multitask", "icl", "full_shot", "dnd", "controls",
           "random_text", "calibrated")
FULL_SHOT_INFO = "dnd_full_shot.json"


@dataclass(frozen=True)
class BenchmarkSettings:
    suite: str
    out: str
    zoo: str  # training LoRAs and the multi-task LoRA (ZOO/_multitask/NAME)
    generators: tuple[tuple[str, str], ...]  # (name, directory); the first is the primary one
    multitask: str = "wide"
    max_tasks: int | None = None  # the report's tasks: the suite cut to max_tasks by `pick_tasks`
    tasks: tuple[str, ...] = ()  # computed by this run (default: all of them); parallel runs share the cache
    limit: int | None = 100  # scored items per task (eval-pool order)
    methods: tuple[str, ...] = METHODS
    sample_loras: int = 4  # zoo LoRAs behind the training-LoRA mean
    shots: int = 4  # k of k-shot ICL, cut to what fits icl_context
    icl_context: int = 1024
    encoder_max_tokens: int = 128  # nearest-LoRA retrieval features
    nearest_among: str | None = None  # task set the nearest LoRA is retrieved from (None: the zoo's tasks)
    full_shot_tasks: int | None = None  # full-shot LoRAs for the first this many picked tasks (None: all)
    full_shot: TrainSettings = field(default_factory=lambda: TrainSettings(
        steps=40, batch_size=8, lr=3e-4, warmup_steps=4, precision="bf16"))
    calibration: str = "batch"  # the rule of the `+calibrated` methods (`calibrated_domain`: always domain)
    protocol: str = "loglik"  # or "generate" (greedy answers; no calibration): reported as SUITE-generate.*
    seed: int = 0
    batch_size: int = 16
    precision: str = "fp32"  # of the base model while scoring (every method alike)
    device: str = "cpu"


def state_digest(state: dict[str, torch.Tensor] | None) -> str:
    """Short content hash of an adapter's weights: the cache key of its scores."""
    if state is None:
        return "base"
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def random_text(tok, like: list[str], seed: int) -> list[str]:
    """Control condition: one string of uniformly random vocabulary tokens per prompt in
    `like`, as many tokens as that prompt has."""
    rng = random.Random(seed)
    special = set(tok.all_special_ids)
    vocab = [i for i in range(len(tok)) if i not in special]
    out = []
    for p in like:
        n = max(1, len(tok(p, add_special_tokens=False)["input_ids"]))
        out.append(tok.decode([rng.choice(vocab) for _ in range(n)]))
    return out


def full_shot_adapter(task: str, out: Path, lora: LoraSettings, settings: TrainSettings,
                      base_model: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The upper reference: a LoRA trained on `task`'s own train pool (same init as the zoo).
    Evaluation-only tasks are allowed here on purpose: the issue reserves their train pool
    for condition prompts, ICL shots and this reference, which is written only to `out`."""
    if not (out / ADAPTER_WEIGHTS).exists():
        train_items, _ = load_pools(task)
        model, tok = load_base_model(base_model, device=settings.device)
        peft_model = attach_lora(model, lora, seed=INIT_SEED)
        result = train_lora(peft_model, tok, train_items, settings, progress=f"full-shot {task}")
        info = {"task": task, "train_items": len(train_items), "steps": settings.steps,
                "final_loss": round(result.losses[-1], 4), "wall_time_s": round(result.wall_time_s, 1)}

        def build(tmp: Path) -> None:
            peft_model.save_pretrained(tmp)
            write_json(tmp / FULL_SHOT_INFO, info)

        atomic_dir(out, build)
    return read_adapter(out), read_json(out / FULL_SHOT_INFO)


class Runner:
    """One wrapped base model per LoRA shape (zoo r=8, residual generators r=16), built lazily."""

    def __init__(self, base_model: str, device: str, precision: str = "fp32"):
        self.base_model, self.device, self.precision, self._models = base_model, device, precision, {}

    def model(self, lora: LoraSettings) -> AdapterModel:
        key = (lora.r, lora.lora_alpha, lora.target_modules)
        if key not in self._models:
            self._models[key] = AdapterModel(self.base_model, lora, self.device, self.precision)
        return self._models[key]


class Scorer:
    """Cached scoring of one method on one task's items (shared with dnd.evaluation.recovery).

    Each piece is cached under CACHE_NAMES[protocol][-precision]/n{items}/TASK/TAG: its
    accuracy, per-item correctness and (loglik) the length-normalized choice scores that
    calibration re-weighs. `computed` counts the pieces scored rather than read."""

    def __init__(self, cache: Cache, runner: Runner, protocol: str = "loglik", batch_size: int = 16,
                 max_length: int = 512):
        self.cache, self.runner, self.protocol = cache, runner, protocol
        self.batch_size, self.max_length, self.computed = batch_size, max_length, 0
        self.suffix = "" if runner.precision == "fp32" else "-" + runner.precision

    def score(self, task: str, tag: str, state, lora: LoraSettings, items, shots=()) -> dict:
        """The method's cached piece: accuracy, per-item correctness and choice scores."""
        loglik = self.protocol == "loglik"
        key = f"{CACHE_NAMES[self.protocol]}{self.suffix}/n{len(items)}/{task}/{tag}"
        hit = self.cache.get(key)
        if hit is None or (loglik and "norm" not in hit):  # pieces cached before calibration lack the scores
            m = self.runner.model(lora).use(state)
            r = evaluate_items(m.model, m.tokenizer, items, self.protocol, shots=shots, batch_size=self.batch_size,
                               max_length=self.max_length)
            hit = {**r.summary(), "correct": [int(p["correct"]) for p in r.predictions]}
            if loglik:
                hit["norm"] = [p["norm"] for p in r.predictions]
            self.cache.put(key, hit)
            self.computed += 1
        return hit

    def adapter(self, task: str, state, lora: LoraSettings, items) -> dict:
        """An adapter's piece, tagged by its weights' digest (the same weights: the same piece)."""
        return self.score(task, f"adapter_{state_digest(state)}", state, lora, items)


@contextlib.contextmanager
def task_claim(work: Path, task: str, wait: bool):
    """An exclusive lock on `task` while one process scores it (the OS drops it when the
    process ends, kill -9 included): parallel runs over the same task list share the tasks as
    they go instead of splitting them in advance. Yields False where another process holds
    it and `wait` is False."""
    path = work / "claims" / f"{task}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:  # "a": the lock file is never written, its time never changes
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def check_unseen(scored: list[str], trained: dict[str, list[str]]) -> None:
    """Refuse a run in which any model was trained on a scored task."""
    for who, tasks in trained.items():
        seen = sorted(set(scored) & set(tasks))
        if seen:
            raise DndError(f"{who}: trained on scored task {seen[0]}; the benchmark needs unseen tasks")


def run_benchmark(s: BenchmarkSettings, command: str = "") -> dict:
    """Score every method on every task of `s`; returns the results dict (also written)."""
    from dnd.evaluation.unseen_report import summarize, write_report

    out, zoo = Path(s.out), Path(s.zoo)
    work = out / "work" / s.suite
    cache = Cache(work)
    loglik = s.protocol == "loglik"
    rows_key = "rows" if loglik else f"rows-{s.protocol}"
    report_name = s.suite if loglik else f"{s.suite}-{s.protocol}"
    manifest = zm.load_manifest(zoo)
    zoo_tasks = sorted(manifest["tasks"])
    mt_entry = manifest.get("multitask", {}).get(s.multitask)
    if not zoo_tasks and {"training_loras", "average", "nearest"} & set(s.methods):
        raise DndError(f"--zoo {zoo}: holds no task LoRAs, needed by the training-LoRA, average and "
                       "nearest baselines (leave them out of --methods)")
    if mt_entry is None and "multitask" in s.methods:
        raise DndError(f"--multitask {s.multitask}: not in zoo {zoo} (build it with dnd zoo --multitask)")
    gens = {name: Generator.from_pretrained(path, device=s.device) for name, path in s.generators}
    scored = pick_tasks(s.suite, s.max_tasks)
    outside = [t for t in s.tasks if t not in scored]
    if outside:
        raise DndError(f"--tasks: {outside[0]} is not among the {len(scored)} tasks picked from suite {s.suite}")
    mine = list(s.tasks) or scored
    check_unseen(scored, {f"zoo {zoo}": zoo_tasks, f"multi-task LoRA {s.multitask}": (mt_entry or {}).get("tasks", []),
                          **{f"generator {n}": g.saved["tasks"] for n, g in gens.items()}})
    base_model = manifest["base_model"]["name"]
    zoo_lora = LoraSettings.from_json(manifest["lora"])
    runner = Runner(base_model, s.device, s.precision)
    tok = runner.model(zoo_lora).tokenizer
    zoo_states = {t: read_adapter(zoo / manifest["tasks"][t]["full_shot"]["path"]) for t in zoo_tasks}
    sample = sorted(random.Random(s.seed).sample(zoo_tasks, min(s.sample_loras, len(zoo_tasks))))
    average = average_states(list(zoo_states.values())) if zoo_states else None  # the same for every task
    if mt_entry is not None:
        mt_dir = zoo / mt_entry["path"]
        multitask = read_adapter(mt_dir), adapter_settings(mt_dir)
    primary = s.generators[0][0] if s.generators else None
    n_cond = {name: g.config.condition.n_prompts for name, g in gens.items()}
    n_zoo_cond = max(n_cond.values(), default=32)
    prompts = {t: [it.prompt for it in load_pools(t)[0][:n_zoo_cond]] for t in scored}
    nearest = baselines.NearestTask(pick_tasks(s.nearest_among, None) if s.nearest_among else zoo_tasks,
                                    n_zoo_cond, s.encoder_max_tokens)
    results = {"suite": s.suite, "protocol": s.protocol, "name": report_name, "command": command, "date": time.strftime("%Y-%m-%d"),
               "settings": _settings_json(s), "base_model": manifest["base_model"], "zoo_tasks": len(zoo_tasks),
               "sampled_loras": sample, "primary": primary, "tasks": {}}

    suffix = "" if s.precision == "fp32" else "-" + s.precision
    scorer = Scorer(cache, runner, s.protocol, s.batch_size, max(s.icl_context, 512))
    score, adapter_score = scorer.score, scorer.adapter

    def calibrated(task: str, tag: str, state, lora: LoraSettings, items, hit: dict, cond: list[str],
                   rule: str) -> dict:
        """`hit` re-scored under the label prior that the model (with `state`) shows on the
        unlabeled `cond` prompts; unchanged for a task whose options vary per item."""
        labels = label_set(items)
        if labels is None:
            return hit
        key = f"calib{suffix}/{task}/{tag}_{rule}_n{len(cond)}"
        c = cache.get(key)
        if c is None:
            model = runner.model(lora).use(state).model
            c = estimate(model, tok, cond, labels, rule, seed=s.seed).to_json()
            cache.put(key, c)
        cal = Calibration.from_json(c)
        correct = [int(it.choices[calibrated_choice(cal, it.choices, norm)] == it.answer)
                   for it, norm in zip(items, hit["norm"])]
        return {"accuracy": sum(correct) / len(correct), "correct": correct}

    def generated(name: str, condition: str, task: str, cond_prompts: list[str], choices=None) -> dict:
        """choices: the answer set a model-condition generator reads (the scored task's
        options, never its labels)."""
        path = work / "adapters" / name / condition / task
        if not (path / ADAPTER_WEIGHTS).exists():
            g = gens[name]
            t0 = time.perf_counter()
            state = g.generate(cond_prompts[: n_cond[name]], **({"choices": choices} if g.reads_model else {}))
            g.save_adapter(state, path, info={"condition": condition, "task": task,
                                              "generate_s": round(time.perf_counter() - t0, 3)})
        return read_adapter(path)

    def full_shot_due(task: str) -> bool:
        return "full_shot" in s.methods and scored.index(task) < (s.full_shot_tasks or len(scored))

    def finished(task: str) -> dict | None:
        row = cache.get(f"{rows_key}/{task}")
        same = row is not None and (row.get("methods"), row.get("limit"), row.get("precision"), row.get("generators"),
                                    row.get("calibration_rule", "batch")) == (
            list(s.methods), s.limit, s.precision, [n for n, _ in s.generators], s.calibration)
        return row if same and ("full_shot" in row["accuracy"]) == full_shot_due(task) else None

    def report() -> None:  # every task finished so far, by this run or a parallel one, in pick order
        results["tasks"] = {t: r for t in scored if (r := finished(t)) is not None}
        results["summary"] = summarize(results)
        write_json(out / f"{report_name}.json", results)
        write_report(out, results)

    def run_task(task: str) -> None:
        """Score every method on `task`, cache its row and rewrite the report."""
        train_pool, eval_pool = load_pools(task)
        items = eval_pool[: s.limit] if s.limit else eval_pool
        if loglik and not all(it.choices for it in items):
            print(f"benchmark: {task} has open answers; skipped (log-likelihood needs choices)", flush=True)
            return
        acc: dict[str, float] = {}
        per_item: dict[str, list[int]] = {}  # method -> correctness of each scored item (paired statistics)
        row = {"n_items": len(items), "methods": list(s.methods), "limit": s.limit, "precision": s.precision,
               "generators": [n for n, _ in s.generators], "calibration_rule": s.calibration, "accuracy": acc,
               "correct": per_item,
               "calibration": "applied" if label_set(items) else "options vary per item: scored as before"}
        if not loglik:
            row["protocol"] = s.protocol

        def put(method: str, hit: dict) -> dict:
            acc[method], per_item[method] = hit["accuracy"], hit["correct"]
            return hit

        calib = "calibrated" in s.methods and loglik  # calibration re-weighs choice log-likelihoods
        if "base" in s.methods or calib:
            base = put("base", score(task, "base", None, zoo_lora, items))
            if calib:
                for rule, name in ((s.calibration, "calibrated"), ("domain", "calibrated_domain")):
                    put(name, calibrated(task, "base", None, zoo_lora, items, base, prompts[task][:n_zoo_cond], rule))
        if "training_loras" in s.methods:
            row["training_loras"] = {t: adapter_score(task, zoo_states[t], zoo_lora, items)["accuracy"] for t in sample}
            acc["training_lora_mean"] = sum(row["training_loras"].values()) / len(sample)
        if "average" in s.methods:
            put("average_lora", adapter_score(task, average, zoo_lora, items))
        if "nearest" in s.methods:
            row["nearest_task"] = near = nearest(task)
            if near not in zoo_states:
                raise DndError(f"--zoo {zoo}: lacks the LoRA of {near}, the nearest of {task}'s among the "
                               f"{s.nearest_among} tasks (bash scripts/nearest_zoo.sh {zoo} trains them)")
            put("nearest_lora", adapter_score(task, zoo_states[near], zoo_lora, items))
        if "multitask" in s.methods:
            hit = put("multitask_lora", adapter_score(task, *multitask, items))
            if calib:
                put("multitask_lora+calibrated", calibrated(task, f"adapter_{state_digest(multitask[0])}", *multitask,
                                                            items, hit, prompts[task][:n_zoo_cond], s.calibration))
        if "icl" in s.methods:
            k = baselines.max_shots(tok, train_pool, items, s.icl_context, cap=s.shots)
            row["k_shots"] = k
            for name, n in (("icl_1", 1), ("icl_k", k)):
                shots = tuple((it.prompt, it.answer) for it in train_pool[:n])
                put(name, score(task, f"icl_{n}_{s.icl_context}", None, zoo_lora, items, shots))
        if full_shot_due(task):
            state, info = full_shot_adapter(task, work / "full_shot" / task, zoo_lora, s.full_shot, base_model)
            row["full_shot"] = info
            put("full_shot", adapter_score(task, state, zoo_lora, items))
        for name in gens if "dnd" in s.methods else ():
            lora = LoraSettings.from_json(gens[name].saved.get("adapter_lora", gens[name].saved["lora"]))
            state = generated(name, "prompts", task, prompts[task], label_set(items))
            hit = put(f"dnd:{name}", adapter_score(task, state, lora, items))
            if calib:
                put(f"dnd:{name}+calibrated", calibrated(task, f"adapter_{state_digest(state)}", state, lora, items,
                                                         hit, prompts[task][: n_cond[name]], s.calibration))
        if "controls" in s.methods and primary is not None:
            lora = LoraSettings.from_json(gens[primary].saved.get("adapter_lora", gens[primary].saved["lora"]))
            donor = scored[(scored.index(task) + 1) % len(scored)]
            row["shuffled_from"] = donor
            put("shuffled", adapter_score(task, generated(primary, f"shuffled_{donor}", task, prompts[donor], label_set(items)),
                                          lora, items))
        if "random_text" in s.methods and primary is not None:
            lora = LoraSettings.from_json(gens[primary].saved.get("adapter_lora", gens[primary].saved["lora"]))
            noise = random_text(tok, prompts[task], zlib.crc32(task.encode()))
            put("random_text", adapter_score(task, generated(primary, "random_text", task, noise), lora, items))
        cache.put(f"{rows_key}/{task}", row)
        report()

    deferred = []  # tasks another process is scoring right now: come back to them at the end
    for task in tqdm(mine, desc=f"benchmark {s.suite}", unit="task"):
        with task_claim(work, task, wait=False) as mine_now:
            if not mine_now:
                deferred.append(task)
            elif finished(task) is None:
                run_task(task)
    for task in deferred:  # wait for the other process; score what it left unfinished (killed)
        with task_claim(work, task, wait=True):
            if finished(task) is None:
                run_task(task)
    report()
    return results


def _settings_json(s: BenchmarkSettings) -> dict:
    d = asdict(s)
    d["generators"] = [list(g) for g in s.generators]
    return d
