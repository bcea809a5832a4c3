"""The resumable training state of a generator, without pickle.

    train_state.safetensors  tensors: "model.<name>" (network), "opt.<param>.<name>"
                             (AdamW's per-parameter state), "rng" (the sampling generator),
                             "global_rng" (torch's global RNG: the training noise)
    train_state.json         everything else: config and tasks (a resume must match them),
                             the optimizer's param groups, the scheduler's state, the step,
                             the losses so far and the elapsed time

The JSON is written after the tensors and names their checksum, so a state whose write
was interrupted half-way is never resumed from.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from dnd.errors import DndError
from dnd.fileio import read_json, save_safetensors, sha256_file, write_json
from dnd.generator import config as C


def save_train_state(out_dir: Path, config, tasks: list[str], net, opt, sched, rng: torch.Generator,
                     losses: list[float], step: int, elapsed: float, curve: list | None = None) -> None:
    """Write the state of step `step` (atomically, tensors first); `curve`: the learning
    curve's points so far."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in net.state_dict().items()}
    opt_state = opt.state_dict()
    for pid, entries in opt_state["state"].items():
        for name, value in entries.items():
            tensors[f"opt.{pid}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng"] = rng.get_state()
    tensors["global_rng"] = torch.get_rng_state()  # the noise on conditions and targets
    save_safetensors(out_dir / C.STATE, tensors)
    write_json(out_dir / C.STATE_INFO, {
        "config": config.to_json(), "tasks": tasks, "step": step, "elapsed": elapsed, "losses": losses,
        "param_groups": opt_state["param_groups"], "sched": sched.state_dict(),
        "tensors_sha256": sha256_file(out_dir / C.STATE), **({"curve": curve} if curve else {}),
    })


def load_train_state(out_dir: Path, config, tasks: list[str], net, opt, sched, rng: torch.Generator) -> dict | None:
    """Restore an interrupted run into (net, opt, sched, rng); None if there is none.
    -> {"step", "elapsed", "losses", "curve"}."""
    from safetensors.torch import load_file

    info_path, tensor_path = out_dir / C.STATE_INFO, out_dir / C.STATE
    if not info_path.exists() or not tensor_path.exists():
        return None
    info = read_json(info_path)
    if info.get("config") != config.to_json() or info.get("tasks") != tasks:
        raise DndError(f"{info_path}: an interrupted run with other settings; use another --out")
    if sha256_file(tensor_path) != info.get("tensors_sha256"):
        return None  # the tensors of a later save were being written: start over
    tensors = load_file(tensor_path)
    net.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    per_param: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            per_param.setdefault(int(pid), {})[name] = value
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else g for g in info["param_groups"]]
    opt.load_state_dict({"state": per_param, "param_groups": groups})
    sched.load_state_dict(info["sched"])
    rng.set_state(tensors["rng"])
    if "global_rng" in tensors:
        torch.set_rng_state(tensors["global_rng"])
    return {"step": info["step"], "elapsed": info["elapsed"], "losses": info["losses"],
            "curve": info.get("curve", [])}


def save_generator(out_dir: Path, saved: dict, net, layout, losses: list[float], curve: list,
                   reference: dict[str, torch.Tensor] | None) -> None:
    """Write a trained generator directory: its config (`saved`), weights, layout, losses,
    learning curve and residual reference, then the manifest of checksums (written last: it
    marks the directory complete), and drop the interrupted-run state."""
    files = [C.WEIGHTS, C.LAYOUT, C.LOSSES, C.CONFIG]
    out_dir.mkdir(parents=True, exist_ok=True)
    if reference is not None:
        save_safetensors(out_dir / C.REFERENCE, {k: v.float() for k, v in reference.items()})
        files.insert(0, C.REFERENCE)
    if curve:
        write_json(out_dir / C.CURVE, curve)
        files.append(C.CURVE)
    save_safetensors(out_dir / C.WEIGHTS, {k: v.float() for k, v in net.state_dict().items()})
    write_json(out_dir / C.LAYOUT, layout.to_json())
    write_json(out_dir / C.LOSSES, losses)
    write_json(out_dir / C.CONFIG, saved)
    write_json(out_dir / C.MANIFEST, {f: sha256_file(out_dir / f) for f in files})
    for name in (C.STATE_INFO, C.STATE):
        if (out_dir / name).exists():
            os.unlink(out_dir / name)
