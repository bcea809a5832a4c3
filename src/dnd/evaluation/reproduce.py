"""The paper's experiment: leave one task out of a suite, generate its adapter from N
unlabeled prompts of its train pool, and score it against every baseline on the same
eval-pool items.

Resumable: every finished piece (an accuracy, a generator, a generated adapter) is cached
under RESULTS_DIR/work/SUITE, so a rerun skips it; RESULTS_DIR/SUITE.json, SUITE.md (the
table) and SUITE.png (the chart) are rewritten after every held-out task, so partial runs still report what they have.
Generators are trained for a fixed number of steps and the final one is used: nothing is
chosen by looking at the eval pool.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.assets import DEFAULT_BASE_MODEL
from dnd.evaluation import baselines
from dnd.evaluation.scoring import CACHE_NAMES, evaluate_items
from dnd.fileio import read_json, write_json
from dnd.generator.condition import ConditionEncoder, ConditionSettings
from dnd.generator.config import GeneratorConfig
from dnd.generator.generate import Generator
from dnd.generator.train import train_generator
from dnd.lora.combine import average_states
from dnd.lora.io import read_adapter
from dnd.lora.settings import LoraSettings
from dnd.lora.swap import AdapterModel
from dnd.lora.train import TrainSettings
from dnd.tasks.registry import SUITES, load_pools
from dnd.zoo import manifest as zm
from dnd.zoo.build import ZooSettings, build_zoo


@dataclass(frozen=True)
class ReproduceSettings:
    suite: str
    out: str
    zoo: str | None = None  # default: RESULTS_DIR/zoo
    tasks: tuple[str, ...] = ()  # default: the whole suite
    train_on: str = "suite"  # generator trains on the suite's other tasks, or "zoo": every other zoo task
    protocols: tuple[str, ...] = ("loglik", "generate")
    limit: int | None = None  # scored items per task (eval pool order); None = the whole pool
    icl_context: int = 2048
    batch_size: int = 16
    base_model: str = DEFAULT_BASE_MODEL
    device: str = "cpu"
    zoo_train: TrainSettings = TrainSettings()
    zoo_keep: int = 10
    lora: LoraSettings = LoraSettings()
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)


class Cache:
    """JSON pieces under RESULTS_DIR/cache, one file per finished evaluation."""

    def __init__(self, root: Path):
        self.root = root / "cache"

    def get(self, key: str):
        path = self.root / f"{key}.json"
        return read_json(path) if path.exists() else None

    def put(self, key: str, value) -> None:
        write_json(self.root / f"{key}.json", value)


def _dnd_adapter(s: ReproduceSettings, work: Path, zoo_dir: Path, cache: Cache, held: str, train_tasks: list[str],
                 cond_prompts: list[str]) -> tuple[dict, dict, dict]:
    """DnD for held-out task `held`: a generator trained on `train_tasks` (never on `held`),
    conditioned on its unlabeled prompts. -> (training info, generation timings, adapter state);
    the generator, adapter and timings are cached under `work`."""
    gen_dir = work / "generators" / held
    gen_info = train_generator(zoo_dir, gen_dir, s.generator, holdout=(held,), tasks=tuple(train_tasks))
    dnd_info = cache.get(f"dnd/{held}")
    if dnd_info is None or not (work / "adapters" / held / ADAPTER_WEIGHTS).exists():  # adapters are not committed
        gen = Generator.from_pretrained(gen_dir, device=s.device)
        gen.generate(cond_prompts)  # warm-up (loads the encoder), so the timing below is steady-state
        timings: dict = {}
        t0 = time.perf_counter()
        state = gen.generate(cond_prompts, timings=timings)
        gen.save_adapter(state, work / "adapters" / held, info={"condition": "train pool", "n": len(cond_prompts)})
        dnd_info = {"generate_s": round(time.perf_counter() - t0, 3), **{k: round(v, 3) for k, v in timings.items()}}
        cache.put(f"dnd/{held}", dnd_info)
    return gen_info, dnd_info, read_adapter(work / "adapters" / held)


def run_reproduce(s: ReproduceSettings, command: str = "") -> dict:
    """Leave-one-out over the suite: for each held-out task, a generator trained without it
    against every baseline; returns the results (also written, after every task)."""
    out = Path(s.out)
    if s.device.startswith("cuda"):
        import torch

        torch.set_float32_matmul_precision("high")  # TF32 for the fp32 base model: scoring speed
    work = out / "work" / s.suite  # caches, generators, adapters (not part of the report)
    suite = list(SUITES[s.suite])
    tasks = list(s.tasks or suite)  # held out in turn; `--tasks` picks some, training still uses the suite
    zoo_dir = Path(s.zoo or work / "zoo")
    zoo_tasks = suite if s.train_on == "suite" else tasks  # "zoo": the zoo's other tasks, whatever they are
    build_zoo(ZooSettings(tasks=tuple(zoo_tasks), out=str(zoo_dir), lora=s.lora, train=s.zoo_train,
                          keep=s.zoo_keep, base_model=s.base_model))
    manifest = zm.load_manifest(zoo_dir)
    cache = Cache(work)
    runner = AdapterModel(s.base_model, LoraSettings.from_json(manifest["lora"]), s.device)
    tok = runner.tokenizer
    full_shot = {t: read_adapter(zoo_dir / manifest["tasks"][t]["full_shot"]["path"]) for t in manifest["tasks"]}
    n_cond = s.generator.condition.n_prompts
    encoder = ConditionEncoder(ConditionSettings(encoder=s.generator.condition.encoder))  # pooled, for retrieval
    results = {"suite": s.suite, "command": command, "date": time.strftime("%Y-%m-%d"),
               "settings": _settings_json(s), "zoo": {"path": str(zoo_dir), "base_model": manifest["base_model"],
                                                      "lora": manifest["lora"]}, "tasks": {}}

    def score(key: str, state, items, protocol: str, shots=()) -> dict:
        key = f"{CACHE_NAMES[protocol]}/n{len(items)}/{key}"  # a different --limit is a different piece
        hit = cache.get(key)
        if hit is None:
            r = evaluate_items(runner.use(state).model, tok, items, protocol, shots=shots,
                               batch_size=s.batch_size, max_length=max(s.icl_context, 512))
            hit = {**r.summary(), "correct": [int(p["correct"]) for p in r.predictions]}
            cache.put(key, hit)
        return hit

    for held in tqdm(tasks, desc=f"reproduce {s.suite}", unit="task"):
        train_pool, eval_pool = load_pools(held)
        items = eval_pool[: s.limit] if s.limit else eval_pool
        train_tasks = training_tasks(held, s.train_on, suite, list(manifest["tasks"]))
        cond_prompts = [it.prompt for it in train_pool[:n_cond]]  # never the scored items

        gen_info, dnd_info, dnd_state = _dnd_adapter(s, work, zoo_dir, cache, held, train_tasks, cond_prompts)

        near, sims = baselines.nearest_task(
            encoder.cached_features(cond_prompts),
            {t: encoder.cached_features([it.prompt for it in load_pools(t)[0][:n_cond]]) for t in train_tasks})
        k_max = baselines.max_shots(tok, train_pool, items, s.icl_context)
        row = {"n_items": len(items), "train_tasks": train_tasks, "nearest_task": near,
               "similarities": {t: round(v, 4) for t, v in sims.items()}, "k_max": k_max,
               "majority": baselines.majority_accuracy(train_pool, items),
               "generator": {k: gen_info[k] for k in ("parameters", "train_time_s", "final_loss")},
               # closeness to the held-out task's own LoRA, in weight space (uses no scored item)
               "b_cosine_to_full_shot": {
                   "dnd": round(baselines.b_cosine(dnd_state, full_shot[held]), 4),
                   "average": round(baselines.b_cosine(average_states([full_shot[t] for t in train_tasks]),
                                                       full_shot[held]), 4),
                   "nearest": round(baselines.b_cosine(full_shot[near], full_shot[held]), 4)},
               "dnd_time": dnd_info, "zoo_final_loss": round(manifest["tasks"][held]["final_loss"], 4),
               "protocols": {}}
        for protocol in s.protocols:
            if protocol == "loglik" and not all(it.choices for it in items):
                continue
            acc = {}
            acc["base"] = score(f"{held}/base", None, items, protocol)
            for t in train_tasks + [held]:
                acc[f"lora:{t}"] = score(f"{held}/lora_{t}", full_shot[t], items, protocol)
            acc["average"] = score(f"{held}/average_{'-'.join(sorted(train_tasks))}"[:200],
                                   average_states([full_shot[t] for t in train_tasks]), items, protocol)
            for k in sorted({1, k_max}):
                shots = tuple((it.prompt, it.answer) for it in train_pool[:k])
                acc[f"icl_{k}"] = score(f"{held}/icl_{k}_{s.icl_context}", None, items, protocol, shots)
            acc["dnd"] = score(f"{held}/dnd_{'-'.join(sorted(train_tasks))}"[:200], dnd_state, items, protocol)
            row["protocols"][protocol] = _summarize(acc, train_tasks, held, near, k_max)
        row["cost"] = _cost(s, manifest, zoo_dir, held, items, row, dnd_info, score)
        cache.put(f"rows/{held}", row)
        # The report holds every suite task finished so far, by this run or an earlier or
        # parallel one (e.g. `--tasks` halves run side by side), in suite order.
        rows = {t: cache.get(f"rows/{t}") for t in suite}
        results["tasks"] = {t: r for t, r in rows.items() if r is not None}
        _write(out, results)
    return results


def training_tasks(held: str, train_on: str, suite: list[str], zoo_tasks: list[str]) -> list[str]:
    """The zoo tasks a held-out task's generator learns from: the suite's others, or every
    other task in the zoo. Never the held-out task; never narrowed by `--tasks`."""
    pool = zoo_tasks if train_on == "zoo" else suite
    return [t for t in pool if t != held]


def _summarize(acc: dict, train_tasks: list[str], held: str, near: str, k_max: int) -> dict:
    lora = {t: acc[f"lora:{t}"]["accuracy"] for t in train_tasks}
    best = max(lora, key=lora.get)
    return {
        "base": acc["base"]["accuracy"],
        "training_lora_mean": sum(lora.values()) / len(lora),
        "training_lora_best": lora[best], "training_lora_best_task": best,
        "training_loras": lora,
        "average_lora": acc["average"]["accuracy"],
        "nearest_lora": lora[near],
        "icl_1": acc["icl_1"]["accuracy"], "icl_k": acc[f"icl_{k_max}"]["accuracy"],
        "dnd": acc["dnd"]["accuracy"], "dnd_ci95": acc["dnd"]["ci95"],
        "full_shot": acc[f"lora:{held}"]["accuracy"],
    }


def _cost(s, manifest, zoo_dir, held, items, row, dnd_info, score) -> dict:
    """DnD's generation time against full-shot fine-tuning, and the fine-tuning time at
    which the saved trajectory first reaches DnD's accuracy (headline protocol)."""
    entry = manifest["tasks"][held]
    protocol = next(iter(row["protocols"]), None)
    cost = {"dnd_s": dnd_info["generate_s"], "full_shot_s": entry["wall_time_s"],
            "full_shot_over_dnd": round(entry["wall_time_s"] / max(dnd_info["generate_s"], 1e-9), 1)}
    if protocol is None:
        return cost
    target = row["protocols"][protocol]["dnd"]
    sps = entry["seconds_per_step"]
    cost["protocol"] = protocol
    cost["reach_dnd_s"] = None  # None: fine-tuning never reached DnD within the run
    for ck in sorted(entry.get("milestones", []) + entry["checkpoints"], key=lambda c: c["step"]):
        acc = score(f"{held}/step_{ck['step']}", read_adapter(zoo_dir / ck["path"]), items, protocol)["accuracy"]
        if acc >= target:
            cost["reach_dnd_s"], cost["reach_dnd_step"] = round(ck["step"] * sps, 1), ck["step"]
            cost["reach_over_dnd"] = round(ck["step"] * sps / max(dnd_info["generate_s"], 1e-9), 1)
            break
    return cost


def _settings_json(s: ReproduceSettings) -> dict:
    d = asdict(s)
    d["generator"] = s.generator.to_json()
    return d


def _write(out: Path, results: dict) -> None:
    from dnd.evaluation.report import write_report

    write_json(out / f"{results['suite']}.json", results)
    write_report(out, results)
