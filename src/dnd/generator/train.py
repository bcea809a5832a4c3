"""Stage 2: train the generator (prompt batch and/or task description -> LoRA).

    train_generator(zoo_dir, out_dir, config)    resolve the tasks, build the run, loop, save

The parts live beside this file: build.py (layout, zoo targets, reference adapter,
conditions, network, objectives), sampler.py (what one step sees), objectives/ (one module
per loss, behind one interface), head_api.py (the heads behind another), loop.py (the one
training loop), curve.py (held-out loss during training), state.py (the resumable state
and the finished directory). Held-out and evaluation-only tasks are never loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

from dnd.errors import DndError
from dnd.fileio import portable_path, read_json
from dnd.generator import config as C
from dnd.generator import residual
from dnd.generator.build import build_training
from dnd.generator.curve import LearningCurve
from dnd.generator.loop import run_loop
from dnd.generator.state import save_generator
from dnd.tasks.registry import check_trainable, get_task
from dnd.zoo import manifest as zm
from dnd.lora.settings import LoraSettings

__all__ = ["train_generator"]


def _resolve_tasks(manifest, zoo_dir, tasks, holdout) -> list[str]:
    if manifest is not None:
        train_tasks = [t for t in (tasks or manifest["tasks"]) if t not in holdout]
        unknown = [t for t in train_tasks if t not in manifest["tasks"]]
        if unknown:
            raise DndError(f"--tasks: {', '.join(unknown)} not in zoo {zoo_dir}")
    else:
        if not tasks:
            raise DndError("--tasks: needed without --zoo (the registry tasks to train on)")
        train_tasks = [get_task(t).name for t in tasks if t not in holdout]
    if len(train_tasks) < 1:
        raise DndError(f"no training tasks left after --holdout {','.join(holdout)}")
    check_trainable(train_tasks)  # before a single item is read
    return train_tasks


def _check_options(config: C.GeneratorConfig, has_zoo: bool) -> None:
    s = config.train
    if s.objective not in C.OBJECTIVES:
        raise DndError(f"--objective {s.objective}: expected one of {', '.join(C.OBJECTIVES)}")
    if s.objective in C.ZOO_OBJECTIVES and not has_zoo:
        raise DndError(f"--objective {s.objective}: needs --zoo (its targets are the zoo's checkpoints)")
    if config.head is None and not has_zoo:
        raise DndError(f"--head {config.head_kind}: needs --zoo (its output is initialised from the zoo); "
                       "use --head shared")
    if config.reference != residual.NONE and config.head is None:
        raise DndError(f"--reference {config.reference}: only the shared head (--head shared) is residual")
    if config.condition.source not in C.CONDITION_SOURCES:
        raise DndError(f"--condition {config.condition.source}: expected one of {', '.join(C.CONDITION_SOURCES)}")
    if config.condition.reads_model and config.head is None:
        raise DndError(f"--condition {config.condition.source}: only the shared head (--head shared) reads the model")
    if config.reference == residual.ZOO_MEAN and not has_zoo:
        raise DndError("--reference zoo-mean: needs --zoo")


def train_generator(zoo_dir: str | Path | None, out_dir: str | Path, config: C.GeneratorConfig,
                    holdout: tuple[str, ...] = (), tasks: tuple[str, ...] | None = None,
                    base_model: str | None = None, lora: LoraSettings | None = None,
                    curve_every: int = 100, max_time: float | None = None) -> dict:
    """Train (or resume) a generator in `out_dir`; returns the saved generator config.

    zoo_dir may be None for the functional and contrastive objectives with the shared head:
    then `tasks` (registry names) are required, and `base_model` / `lora` (the generated
    LoRA's shape) default to the default model and LoraSettings(). With a task-loss
    objective a learning curve (curve.py) is measured every `curve_every` steps. max_time:
    seconds of training after which it stops early and saves the generator as it is (the
    saved config's "steps_done" says where; config.train.steps stays the schedule's)."""
    import torch

    from dnd.assets import DEFAULT_BASE_MODEL, base_model_identity, load_base_model

    out_dir = Path(out_dir)
    zoo_dir = Path(zoo_dir) if zoo_dir else None
    _check_options(config, zoo_dir is not None)
    manifest = zm.load_manifest(zoo_dir) if zoo_dir else None
    train_tasks = _resolve_tasks(manifest, zoo_dir, tasks, holdout)
    if (out_dir / C.MANIFEST).exists():
        done = read_json(out_dir / C.CONFIG)
        if done["tasks"] == train_tasks and done["config"] == config.to_json():
            print(f"dnd train: {out_dir} already trained; reusing it", flush=True)
            return done
        raise DndError(f"{out_dir}: holds a generator trained with other tasks or settings; use another --out")
    if manifest is not None:
        zm.verify(zoo_dir, manifest, train_tasks)

    s = config.train
    torch.manual_seed(s.seed)
    if manifest is not None:
        base_name, base_identity = manifest["base_model"]["name"], manifest["base_model"]
        delta_lora = LoraSettings.from_json(manifest["lora"])
    else:
        base_name, base_identity, delta_lora = base_model or DEFAULT_BASE_MODEL, None, lora or LoraSettings()
    model = tok = None
    if s.objective in C.TASK_LOSS_OBJECTIVES or manifest is None or config.condition.reads_model:
        model, tok = load_base_model(base_name, device=s.device)
        base_identity = base_identity or base_model_identity(base_name, model).to_json()

    training = build_training(config, train_tasks, zoo_dir, manifest, model, tok, delta_lora,
                              model_identity=json.dumps(base_identity, sort_keys=True))
    curve = None
    if training.functional is not None:
        curve = LearningCurve.build(train_tasks, training.functional, s.max_pool, every=curve_every)
    run = run_loop(training, config, train_tasks, out_dir, curve, max_time=max_time)

    meta, losses = training.meta, run["losses"]
    saved = {
        "format": "dnd-generator/1",
        "config": config.to_json(),
        "base_model": base_identity,
        "lora": delta_lora.to_json(),  # the generated LoRA (the layout's shape)
        "tasks": train_tasks,
        "holdout": list(holdout),
        "zoo": portable_path(zoo_dir.resolve()) if zoo_dir else None,  # no machine's absolute path
        "cond_shape": meta["cond_shape"],
        "token_shape": meta["token_shape"],
        "n_basis": meta["n_basis"],
        "objective": s.objective,
        "head": config.head_kind,
        "parameters": sum(p.numel() for p in training.net.parameters()),
        "train_time_s": round(run["elapsed"], 1),
        "steps_done": run["steps_done"],  # < config.train.steps: stopped by max_time
        "final_loss": losses[-1] if losses else None,
    }
    for key in ("desc_dim", "model_dim", "model_blocks"):
        if key in meta:
            saved[key] = meta[key]
    ref_state = None
    if training.reference is not None:
        ref_state, ref_lora, ref_name = training.reference
        saved.update(reference=portable_path(ref_name), reference_lora=ref_lora.to_json(),
                     adapter_lora=meta["written_lora"].to_json())
    save_generator(out_dir, saved, training.net, training.layout, losses, run["curve"], ref_state)
    return saved
