"""Stage 1: build the checkpoint zoo, one LoRA per task with its late-phase trajectory.

Resumable at task granularity: the manifest is rewritten (atomically, under a lock) after
each finished task, so a rerun skips finished tasks, and processes given different tasks
can build one zoo side by side; an interrupted task restarts from scratch (training
is seeded, so it produces the same checkpoints). Every adapter directory is written under
a temporary name and renamed when complete.

A `Scorer` may score each task's just-trained LoRA for its manifest entry ("eval"): the zoo
does not evaluate by itself, evaluation lives a floor up (`dnd zoo --eval-n N` passes
dnd.evaluation.zoo_eval.own_lora_scorer).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tqdm.auto import tqdm

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.assets import DEFAULT_BASE_MODEL, base_model_identity, load_base_model
from dnd.fileio import atomic_dir, sha256_file, write_json
from dnd.lora.attach import attach_lora, freeze_below, lora_state_dict
from dnd.lora.settings import LoraSettings
from dnd.lora.train import TrainSettings, train_lora
from dnd.tasks.registry import check_trainable, load_pools
from dnd.zoo import manifest as mf

if TYPE_CHECKING:
    import torch

# All tasks share one LoRA initialisation (same seed): their A matrices start equal, so
# adapters of different tasks live in one coordinate system and can be averaged or generated.
INIT_SEED = 0

# (task, its LoRA's state dict) -> figures kept in the task's manifest entry under "eval"
Scorer = Callable[[str, "dict[str, torch.Tensor]"], dict]


@dataclass(frozen=True)
class ZooSettings:
    tasks: tuple[str, ...]
    out: str
    lora: LoraSettings = LoraSettings()
    train: TrainSettings = TrainSettings()
    keep: int = 10  # consecutive checkpoints kept at the end of each run
    base_model: str = DEFAULT_BASE_MODEL
    # > 0: train only the top N decoder layers' LoRA (lower lora_B zero and frozen), the part
    # a `--top-layers N` generator writes; the adapters keep the full shape
    top_layers: int = 0


def _save_adapter(peft_model, final: Path) -> str:
    atomic_dir(final, lambda tmp: peft_model.save_pretrained(tmp))
    for extra in ("README.md",):  # PEFT's model card: noise inside a zoo
        (final / extra).unlink(missing_ok=True)
    return sha256_file(final / ADAPTER_WEIGHTS)


def train_task(settings: ZooSettings, task: str, zoo_dir: Path, score: Scorer | None = None) -> dict:
    """Train one task's LoRA, saving the last `keep` steps; return its manifest entry
    (with `score`'s figures for the trained LoRA under "eval")."""
    train_items, _ = load_pools(task)
    task_dir = zoo_dir / task
    shutil.rmtree(task_dir, ignore_errors=True)  # leftovers of an interrupted run
    model, tokenizer = load_base_model(settings.base_model, device=settings.train.device)
    peft_model = attach_lora(model, settings.lora, seed=INIT_SEED)
    freeze_below(peft_model, settings.top_layers)
    first_kept = settings.train.steps - settings.keep + 1
    # Sparse early checkpoints (every tenth of the run) measure how fast fine-tuning reaches
    # a given accuracy (the cost comparison); they are not generator training data.
    milestone_steps = {round(settings.train.steps * i / 10) for i in range(1, 10)} - {0}
    checkpoints: list[dict] = []
    milestones: list[dict] = []

    def on_step(step: int, loss: float) -> None:
        if step >= first_kept:
            rel = f"{task}/checkpoints/step_{step:06d}"
            sha = _save_adapter(peft_model, zoo_dir / rel)
            checkpoints.append({"step": step, "loss": loss, "path": rel, "sha256": sha})
        elif step in milestone_steps:
            rel = f"{task}/milestones/step_{step:06d}"
            sha = _save_adapter(peft_model, zoo_dir / rel)
            milestones.append({"step": step, "loss": loss, "path": rel, "sha256": sha})

    result = train_lora(peft_model, tokenizer, train_items, settings.train, on_step=on_step, progress=task)
    # The full-shot adapter is the run's final checkpoint; hard-link it rather than copy.
    final_rel = f"{task}/full_shot"
    last = zoo_dir / checkpoints[-1]["path"]

    def link(tmp: Path) -> None:
        for name in os.listdir(last):
            os.link(last / name, tmp / name)

    atomic_dir(zoo_dir / final_rel, link)
    write_json(task_dir / mf.LOSSES, result.losses)
    evaluation = score(task, lora_state_dict(peft_model)) if score is not None else None
    return {
        "train_pool": len(train_items),
        "train": asdict(settings.train),
        **({"top_layers": settings.top_layers} if settings.top_layers else {}),
        "wall_time_s": round(result.wall_time_s, 2),
        "tokens": result.tokens,
        "seconds_per_step": round(result.wall_time_s / settings.train.steps, 3),
        "final_loss": result.losses[-1],
        "losses": f"{task}/{mf.LOSSES}",
        "checkpoints": checkpoints,
        "milestones": milestones,
        "full_shot": {"path": final_rel, "sha256": checkpoints[-1]["sha256"], "wall_time_s": round(result.wall_time_s, 2)},
        **({"eval": evaluation} if evaluation else {}),
    }


def build_zoo(settings: ZooSettings, score: Scorer | None = None) -> dict:
    """Train every task of `settings.tasks` not yet in the zoo; return the manifest.
    `score`, if given, scores each newly trained LoRA (see `Scorer`)."""
    check_trainable(settings.tasks)  # before anything is written
    if settings.keep < 1 or settings.keep > settings.train.steps:
        raise mf.ZooError(f"--keep {settings.keep}: must be between 1 and --steps ({settings.train.steps})")
    zoo_dir = Path(settings.out)
    identity = base_model_identity(settings.base_model).to_json()  # loads the model only if not cached
    manifest = mf.open_zoo(zoo_dir, identity, settings.lora.to_json())
    mf.verify(zoo_dir, manifest)
    todo = [t for t in settings.tasks if t not in manifest["tasks"]]
    done = len(settings.tasks) - len(todo)
    if done:
        print(f"dnd zoo: {done} task(s) already in {zoo_dir}, training {len(todo)}", flush=True)
    for i, task in enumerate(tqdm(todo, desc="zoo", unit="task"), 1):
        entry = train_task(settings, task, zoo_dir, score)
        manifest = mf.add_task(zoo_dir, task, entry)
        ev = entry.get("eval")
        scored = f", accuracy base {100 * ev['base']:.1f} -> LoRA {100 * ev['lora']:.1f} (n {ev['n']})" if ev else ""
        tqdm.write(f"dnd zoo: [{i}/{len(todo)}] {task}: final loss {entry['final_loss']:.4f}, "
                   f"{entry['wall_time_s']:.0f} s training{scored}")
    return manifest


def cpu_defaults(device: str) -> tuple[int, int]:
    """(steps, keep): CPU finishes a 7-task zoo in about an hour on 2 cores; GPU as the paper."""
    return (150, 10) if device == "cpu" else (300, 50)


def with_device_defaults(settings: ZooSettings, steps: int | None, keep: int | None) -> ZooSettings:
    d_steps, d_keep = cpu_defaults(settings.train.device)
    steps = steps or d_steps
    return replace(settings, train=replace(settings.train, steps=steps), keep=keep or min(d_keep, steps))
