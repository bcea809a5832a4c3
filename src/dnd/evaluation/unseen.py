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
from dnd.evaluation.cached_scoring import Runner, Scorer, state_digest, task_claim
from dnd.evaluation.reproduce import Cache
from dnd.fileio import atomic_dir, read_json, write_json
from dnd.generator.generate import Generator
from dnd.lora.attach import attach_lora
from dnd.lora.combine import average_states
from dnd.lora.io import adapter_settings, read_adapter
from dnd.lora.settings import LoraSettings
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


def check_unseen(scored: list[str], trained: dict[str, list[str]]) -> None:
    """Refuse a run in which any model was trained on a scored task."""
    for who, tasks in trained.items():
        seen = sorted(set(scored) & set(tasks))
        if seen:
            raise DndError(f"{who}: trained on scored task {seen[0]}; the benchmark needs unseen tasks")


def _adapter_lora(gen: Generator) -> LoraSettings:
    """The LoRA shape of the adapters a generator writes."""
    return LoraSettings.from_json(gen.saved.get("adapter_lora", gen.saved["lora"]))


class Benchmark:
    """One run of `dnd benchmark`: what every scored task shares (zoo LoRAs, generators,
    condition prompts, the cached scorer) is built once; `run_task` scores every method on one
    task, caches its row and rewrites the report."""

    def __init__(self, s: BenchmarkSettings, command: str = ""):
        self.s, self.out, self.zoo = s, Path(s.out), Path(s.zoo)
        self.work = self.out / "work" / s.suite
        self.cache = Cache(self.work)
        self.loglik = s.protocol == "loglik"
        self.rows_key = "rows" if self.loglik else f"rows-{s.protocol}"
        self.report_name = s.suite if self.loglik else f"{s.suite}-{s.protocol}"
        self.suffix = "" if s.precision == "fp32" else "-" + s.precision  # of the calibration cache keys
        manifest = zm.load_manifest(self.zoo)
        self.zoo_tasks = sorted(manifest["tasks"])
        mt_entry = manifest.get("multitask", {}).get(s.multitask)
        if not self.zoo_tasks and {"training_loras", "average", "nearest"} & set(s.methods):
            raise DndError(f"--zoo {self.zoo}: holds no task LoRAs, needed by the training-LoRA, average and "
                           "nearest baselines (leave them out of --methods)")
        if mt_entry is None and "multitask" in s.methods:
            raise DndError(f"--multitask {s.multitask}: not in zoo {self.zoo} (build it with dnd zoo --multitask)")
        self.gens = {name: Generator.from_pretrained(path, device=s.device) for name, path in s.generators}
        self.scored = pick_tasks(s.suite, s.max_tasks)
        outside = [t for t in s.tasks if t not in self.scored]
        if outside:
            raise DndError(f"--tasks: {outside[0]} is not among the {len(self.scored)} tasks picked from suite {s.suite}")
        self.mine = list(s.tasks) or self.scored
        check_unseen(self.scored, {f"zoo {self.zoo}": self.zoo_tasks,
                                   f"multi-task LoRA {s.multitask}": (mt_entry or {}).get("tasks", []),
                                   **{f"generator {n}": g.saved["tasks"] for n, g in self.gens.items()}})
        self.base_model = manifest["base_model"]["name"]
        self.zoo_lora = LoraSettings.from_json(manifest["lora"])
        self.runner = Runner(self.base_model, s.device, s.precision)
        self.tok = self.runner.model(self.zoo_lora).tokenizer
        self._load_zoo(manifest, mt_entry)
        self.primary = s.generators[0][0] if s.generators else None
        self.n_cond = {name: g.config.condition.n_prompts for name, g in self.gens.items()}
        self.n_zoo_cond = max(self.n_cond.values(), default=32)
        self.prompts = {t: [it.prompt for it in load_pools(t)[0][: self.n_zoo_cond]] for t in self.scored}
        self.nearest = baselines.NearestTask(pick_tasks(s.nearest_among, None) if s.nearest_among else self.zoo_tasks,
                                             self.n_zoo_cond, s.encoder_max_tokens)
        self.results = {"suite": s.suite, "protocol": s.protocol, "name": self.report_name, "command": command,
                        "date": time.strftime("%Y-%m-%d"), "settings": _settings_json(s),
                        "base_model": manifest["base_model"], "zoo_tasks": len(self.zoo_tasks),
                        "sampled_loras": self.sample, "primary": self.primary, "tasks": {}}
        self.scorer = Scorer(self.cache, self.runner, s.protocol, s.batch_size, max(s.icl_context, 512))

    def _load_zoo(self, manifest: dict, mt_entry: dict | None) -> None:
        """The zoo's task LoRAs, the seeded sample behind the training-LoRA mean, their weight
        average (the same for every task) and the multi-task LoRA with its settings."""
        self.zoo_states = {t: read_adapter(self.zoo / manifest["tasks"][t]["full_shot"]["path"]) for t in self.zoo_tasks}
        self.sample = sorted(random.Random(self.s.seed).sample(self.zoo_tasks, min(self.s.sample_loras,
                                                                                   len(self.zoo_tasks))))
        self.average = average_states(list(self.zoo_states.values())) if self.zoo_states else None
        self.multitask = None
        if mt_entry is not None:
            mt_dir = self.zoo / mt_entry["path"]
            self.multitask = read_adapter(mt_dir), adapter_settings(mt_dir)

    def run(self) -> dict:
        """Score every task of this process's share; returns the results dict (also written).
        A task another process is scoring is passed over and waited for at the end."""
        deferred = []
        for task in tqdm(self.mine, desc=f"benchmark {self.s.suite}", unit="task"):
            with task_claim(self.work, task, wait=False) as mine_now:
                if not mine_now:
                    deferred.append(task)
                elif self.finished(task) is None:
                    self.run_task(task)
        for task in deferred:  # wait for the other process; score what it left unfinished (killed)
            with task_claim(self.work, task, wait=True):
                if self.finished(task) is None:
                    self.run_task(task)
        self.report()
        return self.results

    def full_shot_due(self, task: str) -> bool:
        return "full_shot" in self.s.methods and self.scored.index(task) < (self.s.full_shot_tasks or len(self.scored))

    def finished(self, task: str) -> dict | None:
        """`task`'s cached row, if it was scored with this run's methods and settings."""
        s, row = self.s, self.cache.get(f"{self.rows_key}/{task}")
        same = row is not None and (row.get("methods"), row.get("limit"), row.get("precision"), row.get("generators"),
                                    row.get("calibration_rule", "batch")) == (
            list(s.methods), s.limit, s.precision, [n for n, _ in s.generators], s.calibration)
        return row if same and ("full_shot" in row["accuracy"]) == self.full_shot_due(task) else None

    def report(self) -> None:
        """Rewrite SUITE.{json,md,png} from every task finished so far, by this run or a
        parallel one, in pick order."""
        from dnd.evaluation.unseen_report import summarize, write_report

        self.results["tasks"] = {t: r for t in self.scored if (r := self.finished(t)) is not None}
        self.results["summary"] = summarize(self.results)
        write_json(self.out / f"{self.report_name}.json", self.results)
        write_report(self.out, self.results)

    def calibrated(self, task: str, tag: str, state, lora: LoraSettings, items, hit: dict, cond: list[str],
                   rule: str) -> dict:
        """`hit` re-scored under the label prior that the model (with `state`) shows on the
        unlabeled `cond` prompts; unchanged for a task whose options vary per item."""
        labels = label_set(items)
        if labels is None:
            return hit
        key = f"calib{self.suffix}/{task}/{tag}_{rule}_n{len(cond)}"
        c = self.cache.get(key)
        if c is None:
            model = self.runner.model(lora).use(state).model
            c = estimate(model, self.tok, cond, labels, rule, seed=self.s.seed).to_json()
            self.cache.put(key, c)
        cal = Calibration.from_json(c)
        correct = [int(it.choices[calibrated_choice(cal, it.choices, norm)] == it.answer)
                   for it, norm in zip(items, hit["norm"])]
        return {"accuracy": sum(correct) / len(correct), "correct": correct}

    def generated(self, name: str, condition: str, task: str, cond_prompts: list[str], choices=None) -> dict:
        """Generator `name`'s adapter for `task` from `cond_prompts`, cached under `condition`.
        choices: the answer set a model-condition generator reads (the scored task's options,
        never its labels)."""
        path = self.work / "adapters" / name / condition / task
        if not (path / ADAPTER_WEIGHTS).exists():
            g = self.gens[name]
            t0 = time.perf_counter()
            state = g.generate(cond_prompts[: self.n_cond[name]], **({"choices": choices} if g.reads_model else {}))
            g.save_adapter(state, path, info={"condition": condition, "task": task,
                                              "generate_s": round(time.perf_counter() - t0, 3)})
        return read_adapter(path)

    def run_task(self, task: str) -> None:
        """Score every method on `task`, cache its row and rewrite the report."""
        s = self.s
        train_pool, eval_pool = load_pools(task)
        items = eval_pool[: s.limit] if s.limit else eval_pool
        if self.loglik and not all(it.choices for it in items):
            print(f"benchmark: {task} has open answers; skipped (log-likelihood needs choices)", flush=True)
            return
        row = {"n_items": len(items), "methods": list(s.methods), "limit": s.limit, "precision": s.precision,
               "generators": [n for n, _ in s.generators], "calibration_rule": s.calibration, "accuracy": {},
               "correct": {},  # method -> correctness of each scored item (paired statistics)
               "calibration": "applied" if label_set(items) else "options vary per item: scored as before"}
        if not self.loglik:
            row["protocol"] = s.protocol
        self._score_baselines(task, items, row)
        self._score_shots(task, train_pool, items, row)
        self._score_generators(task, items, row)
        self.cache.put(f"{self.rows_key}/{task}", row)
        self.report()

    @staticmethod
    def _put(row: dict, method: str, hit: dict) -> dict:
        row["accuracy"][method], row["correct"][method] = hit["accuracy"], hit["correct"]
        return hit

    def _score_baselines(self, task: str, items, row: dict) -> None:
        """Base (and calibrated base), the training-LoRA mean, average, nearest and multi-task LoRAs."""
        s, put, adapter_score = self.s, self._put, self.scorer.adapter
        cond = self.prompts[task][: self.n_zoo_cond]
        calib = "calibrated" in s.methods and self.loglik  # calibration re-weighs choice log-likelihoods
        if "base" in s.methods or calib:
            base = put(row, "base", self.scorer.score(task, "base", None, self.zoo_lora, items))
            if calib:
                for rule, name in ((s.calibration, "calibrated"), ("domain", "calibrated_domain")):
                    put(row, name, self.calibrated(task, "base", None, self.zoo_lora, items, base, cond, rule))
        if "training_loras" in s.methods:
            row["training_loras"] = {t: adapter_score(task, self.zoo_states[t], self.zoo_lora, items)["accuracy"]
                                     for t in self.sample}
            row["accuracy"]["training_lora_mean"] = sum(row["training_loras"].values()) / len(self.sample)
        if "average" in s.methods:
            put(row, "average_lora", adapter_score(task, self.average, self.zoo_lora, items))
        if "nearest" in s.methods:
            row["nearest_task"] = near = self.nearest(task)
            if near not in self.zoo_states:
                raise DndError(f"--zoo {self.zoo}: lacks the LoRA of {near}, the nearest of {task}'s among the "
                               f"{s.nearest_among} tasks (bash scripts/nearest_zoo.sh {self.zoo} trains them)")
            put(row, "nearest_lora", adapter_score(task, self.zoo_states[near], self.zoo_lora, items))
        if "multitask" in s.methods:
            hit = put(row, "multitask_lora", adapter_score(task, *self.multitask, items))
            if calib:
                put(row, "multitask_lora+calibrated", self.calibrated(
                    task, f"adapter_{state_digest(self.multitask[0])}", *self.multitask, items, hit, cond, s.calibration))

    def _score_shots(self, task: str, train_pool, items, row: dict) -> None:
        """What reads the task's labeled train pool: 1- and k-shot ICL and the full-shot LoRA."""
        s = self.s
        if "icl" in s.methods:
            k = baselines.max_shots(self.tok, train_pool, items, s.icl_context, cap=s.shots)
            row["k_shots"] = k
            for name, n in (("icl_1", 1), ("icl_k", k)):
                shots = tuple((it.prompt, it.answer) for it in train_pool[:n])
                self._put(row, name, self.scorer.score(task, f"icl_{n}_{s.icl_context}", None, self.zoo_lora, items,
                                                       shots))
        if self.full_shot_due(task):
            state, info = full_shot_adapter(task, self.work / "full_shot" / task, self.zoo_lora, s.full_shot,
                                            self.base_model)
            row["full_shot"] = info
            self._put(row, "full_shot", self.scorer.adapter(task, state, self.zoo_lora, items))

    def _score_generators(self, task: str, items, row: dict) -> None:
        """Every generator (and its calibrated adapter), then the primary one's controls."""
        s, put, adapter_score = self.s, self._put, self.scorer.adapter
        calib = "calibrated" in s.methods and self.loglik
        labels = label_set(items)
        for name in self.gens if "dnd" in s.methods else ():
            lora = _adapter_lora(self.gens[name])
            state = self.generated(name, "prompts", task, self.prompts[task], labels)
            hit = put(row, f"dnd:{name}", adapter_score(task, state, lora, items))
            if calib:
                put(row, f"dnd:{name}+calibrated", self.calibrated(
                    task, f"adapter_{state_digest(state)}", state, lora, items, hit,
                    self.prompts[task][: self.n_cond[name]], s.calibration))
        if self.primary is None:
            return
        lora = _adapter_lora(self.gens[self.primary])
        if "controls" in s.methods:
            donor = self.scored[(self.scored.index(task) + 1) % len(self.scored)]
            row["shuffled_from"] = donor
            state = self.generated(self.primary, f"shuffled_{donor}", task, self.prompts[donor], labels)
            put(row, "shuffled", adapter_score(task, state, lora, items))
        if "random_text" in s.methods:
            noise = random_text(self.tok, self.prompts[task], zlib.crc32(task.encode()))
            put(row, "random_text", adapter_score(task, self.generated(self.primary, "random_text", task, noise),
                                                  lora, items))


def run_benchmark(s: BenchmarkSettings, command: str = "") -> dict:
    """Score every method on every task of `s`; returns the results dict (also written)."""
    return Benchmark(s, command).run()


def _settings_json(s: BenchmarkSettings) -> dict:
    d = asdict(s)
    d["generators"] = [list(g) for g in s.generators]
    return d
