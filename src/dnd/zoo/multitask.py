"""The multi-task LoRA: one adapter trained on the union of many tasks' train pools.

It is the baseline that counts for a generator (DESIGN.md section 5): a generator that
cannot beat one LoRA trained on all its training tasks has learned nothing task-specific.
Same rank, targets and initialisation as the zoo's task LoRAs. Tasks are balanced: the
training stream deals items round-robin over the tasks (each task's pool shuffled and
cycled), so a task with 2000 items weighs no more than one with 150. It lives in the zoo:

    ZOO_DIR/_multitask/<name>/adapter/   a PEFT adapter dir
    ZOO_DIR/_multitask/<name>/losses.json
    manifest.json  "multitask": {name: {tasks, train, steps, final_loss, path, sha256, ...}}
"""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.assets import base_model_identity, load_base_model
from dnd.fileio import atomic_dir, sha256_file, write_json
from dnd.lora.attach import attach_lora, freeze_below
from dnd.lora.train import train_lora
from dnd.tasks.items import Item
from dnd.tasks.registry import check_trainable, load_pools
from dnd.zoo import manifest as mf
from dnd.zoo.build import INIT_SEED, ZooSettings

MULTITASK_DIR = "_multitask"


@dataclass(frozen=True)
class MultitaskSettings:
    """`zoo` gives the LoRA shape, base model, zoo directory and per-task training settings;
    the multi-task run takes `steps_factor` times the zoo's per-task steps."""

    name: str
    zoo: ZooSettings
    steps_factor: int = 3


def balanced_stream(pools: dict[str, list[Item]], n: int, seed: int) -> list[Item]:
    """`n` items dealt round-robin over the tasks, each task's pool shuffled and cycled."""
    rng = random.Random(seed)
    orders = {}
    for task, items in pools.items():
        order = list(items)
        rng.shuffle(order)
        orders[task] = order
    tasks = sorted(pools)
    return [orders[t][(i // len(tasks)) % len(orders[t])] for i, t in
            ((i, tasks[i % len(tasks)]) for i in range(n))]


def build_multitask(settings: MultitaskSettings) -> dict:
    """Train (or find already trained) the multi-task LoRA `settings.name`; return its entry."""
    zoo = settings.zoo
    if not settings.name or not settings.name.replace("-", "_").isidentifier():
        raise mf.ZooError(f"--multitask {settings.name!r}: use a name of letters, digits, '-' and '_'")
    if len(zoo.tasks) < 2:
        raise mf.ZooError("--multitask needs at least two tasks")
    check_trainable(zoo.tasks)
    zoo_dir = Path(zoo.out)
    manifest = mf.open_zoo(zoo_dir, base_model_identity(zoo.base_model).to_json(), zoo.lora.to_json())
    train = replace(zoo.train, steps=zoo.train.steps * settings.steps_factor)
    done = manifest.get("multitask", {}).get(settings.name)
    if done is not None:
        if done["tasks"] != list(zoo.tasks) or done["train"] != asdict(train):
            raise mf.ZooError(f"{zoo_dir}: multi-task LoRA '{settings.name}' exists with other tasks or "
                              "settings; pick another --multitask name")
        print(f"dnd zoo: multi-task LoRA '{settings.name}' already in {zoo_dir}", flush=True)
        return done

    pools = {t: load_pools(t)[0] for t in zoo.tasks}
    stream = balanced_stream(pools, train.steps * train.batch_size, train.seed)
    rel = Path(MULTITASK_DIR) / settings.name
    shutil.rmtree(zoo_dir / rel, ignore_errors=True)  # leftovers of an interrupted run
    model, tokenizer = load_base_model(zoo.base_model, device=train.device)
    peft_model = attach_lora(model, zoo.lora, seed=INIT_SEED)
    freeze_below(peft_model, zoo.top_layers)
    result = train_lora(peft_model, tokenizer, stream, train, progress=f"multitask {settings.name}")
    atomic_dir(zoo_dir / rel / "adapter", lambda tmp: peft_model.save_pretrained(tmp))
    (zoo_dir / rel / "adapter" / "README.md").unlink(missing_ok=True)
    write_json(zoo_dir / rel / mf.LOSSES, result.losses)
    entry = {
        "tasks": list(zoo.tasks), "train": asdict(train), "steps_factor": settings.steps_factor,
        **({"top_layers": zoo.top_layers} if zoo.top_layers else {}),
        "items_per_task": {t: len(p) for t, p in pools.items()},
        "wall_time_s": round(result.wall_time_s, 2), "final_loss": result.losses[-1],
        "losses": str(rel / mf.LOSSES), "path": str(rel / "adapter"),
        "sha256": sha256_file(zoo_dir / rel / "adapter" / ADAPTER_WEIGHTS),
    }
    mf.add_multitask(zoo_dir, settings.name, entry)
    return entry
