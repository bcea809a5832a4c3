"""`dnd demo --from-scratch`: the whole pipeline at small scale on the embedded defaults
(~10 min, 2 CPU cores). The default `dnd demo` is dnd.evaluation.demo_unseen.

zoo of four short-answer tasks -> generator with RTE held out -> an adapter generated from
RTE's unlabeled train-pool prompts -> base vs DnD vs training-LoRA mean on RTE's eval items.
Everything lands in one directory and is reused on a rerun.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from dnd.assets import DEFAULT_BASE_MODEL, cache_dir
from dnd.evaluation.reproduce import Cache
from dnd.evaluation.scoring import evaluate_items
from dnd.generator.config import GeneratorConfig, GenTrainSettings
from dnd.generator.generate import Generator
from dnd.generator.train import train_generator
from dnd.lora.io import read_adapter
from dnd.lora.settings import LoraSettings
from dnd.lora.swap import AdapterModel
from dnd.lora.train import TrainSettings
from dnd.tasks.registry import load_pools
from dnd.zoo import manifest as zm
from dnd.zoo.build import ZooSettings, build_zoo


@dataclass(frozen=True)
class DemoSettings:
    out: str | None = None  # default: $DND_CACHE/demo
    train_tasks: tuple[str, ...] = ("sst2", "boolq", "mrpc", "sciq")
    held_out: str = "rte"
    zoo_steps: int = 30
    zoo_lr: float = 1e-3  # few steps, so a larger rate than the paper's 1e-4
    gen_steps: int = 150
    limit: int = 80  # scored items
    base_model: str = DEFAULT_BASE_MODEL


def run_demo(s: DemoSettings) -> dict:
    out = Path(s.out or cache_dir() / "demo")
    t_start = time.perf_counter()
    print(f"[1/4] zoo: one LoRA per task on {', '.join(s.train_tasks)} ({s.zoo_steps} steps each)", flush=True)
    build_zoo(ZooSettings(tasks=s.train_tasks, out=str(out / "zoo"), base_model=s.base_model, keep=5,
                          lora=LoraSettings(), train=TrainSettings(steps=s.zoo_steps, batch_size=4, lr=s.zoo_lr,
                                                                   max_length=192, warmup_steps=5)))
    print(f"[2/4] generator: trained on the zoo, {s.held_out} held out", flush=True)
    config = GeneratorConfig(train=GenTrainSettings(steps=s.gen_steps, batch_size=8, warmup_steps=30))
    train_generator(out / "zoo", out / "generator", config, holdout=(s.held_out,))

    print(f"[3/4] generate: an adapter from {config.condition.n_prompts} unlabeled {s.held_out} prompts", flush=True)
    train_pool, eval_pool = load_pools(s.held_out)
    prompts = [it.prompt for it in train_pool[: config.condition.n_prompts]]
    gen = Generator.from_pretrained(out / "generator")
    t0 = time.perf_counter()
    gen.save_adapter(gen.generate(prompts), out / "adapter")
    gen_s = time.perf_counter() - t0
    print(f"      adapter written to {out / 'adapter'} in {gen_s:.2f} s", flush=True)

    print(f"[4/4] evaluate on {s.limit} {s.held_out} eval-pool items (log-likelihood of the choices)", flush=True)
    items = eval_pool[: s.limit]
    manifest = zm.load_manifest(out / "zoo")
    runner = AdapterModel(s.base_model, LoraSettings.from_json(manifest["lora"]))
    cache = Cache(out)

    def acc(key: str, state) -> float:
        hit = cache.get(f"demo/{key}")
        if hit is None:
            hit = evaluate_items(runner.use(state).model, runner.tokenizer, items, "loglik", progress=key).summary()
            cache.put(f"demo/{key}", hit)
        return hit["accuracy"]

    rows = {"base model": acc("base", None)}
    loras = {t: acc(f"lora_{t}", read_adapter(out / "zoo" / manifest["tasks"][t]["full_shot"]["path"]))
             for t in s.train_tasks}
    rows["training LoRAs (mean)"] = sum(loras.values()) / len(loras)
    rows["DnD (generated, no labels, no training)"] = acc("dnd", read_adapter(out / "adapter"))
    print(f"\n{s.held_out}: accuracy on {len(items)} held-out items")
    for name, value in rows.items():
        print(f"  {name:<42}{100 * value:6.1f}%")
    print("  (training LoRAs: " + ", ".join(f"{t} {100 * v:.1f}%" for t, v in loras.items()) + ")")
    print(f"\nTotal {time.perf_counter() - t_start:.0f} s. Everything is in {out}; a rerun reuses it.")
    return {"rows": rows, "loras": loras, "generate_s": gen_s}
