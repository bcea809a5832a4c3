"""Stage 2: train the generator on the zoo (prompt batch -> checkpoint tokens).

Each step draws, for every batch element, a task, one of its checkpoints, and a fresh
random sample of N prompts from the task's train pool; the loss is the MSE between the
decoder's output and the checkpoint's normalized tokens (padding masked; optionally each
token weighted by how much it varies across the zoo's checkpoints). Held-out tasks are
never loaded. A training state is saved every `save_every` steps, so a killed run resumes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from dnd.errors import DndError
from dnd.fileio import atomic_write, read_json, save_safetensors, sha256_file, write_json
from dnd.generator import config as C
from dnd.generator.condition import ConditionEncoder
from dnd.generator.decoder import HyperConvDecoder
from dnd.generator.tokenizer import LoraLayout
from dnd.tasks.registry import load_pools
from dnd.zoo import manifest as zm
from dnd.zoo.lora import warmup_cosine

LAYOUT = "lora_layout.json"


def load_zoo_tokens(zoo_dir: Path, manifest: dict, tasks: list[str], chunk: int | None):
    """-> (layout, {task: (K, T, H, W) tokens of its kept checkpoints})."""
    layout, tokens = None, {}
    for task in tqdm(tasks, desc="tokenizing zoo", unit="task", leave=False):
        states = [load_file(p / zm.ADAPTER_WEIGHTS) for p in zm.checkpoint_paths(zoo_dir, manifest, task)]
        layout = layout or LoraLayout.from_state_dict(states[0], chunk)
        tokens[task] = torch.stack([layout.tokenize(s) for s in states])
    return layout, tokens


def token_weights(all_tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(T,) weights, mean 1: each token's std across checkpoints, averaged over its cells."""
    std = all_tokens.std(dim=0)  # (T, H, W)
    per_token = (std * mask).sum(dim=(1, 2)) / mask.sum(dim=(1, 2)).clamp_min(1)
    return per_token / per_token.mean().clamp_min(1e-12)


def principal_directions(centered: torch.Tensor, k: int) -> torch.Tensor:
    """(K_total, T, H, W) centered tokens -> (k, T, H, W) top principal directions, scaled
    by their standard deviation so that unit coefficients mean typical deviations."""
    flat = centered.reshape(centered.shape[0], -1)
    _, s, v = torch.linalg.svd(flat, full_matrices=False)  # K_total is small: exact SVD is cheap
    scale = s[:k] / max(1, flat.shape[0] - 1) ** 0.5
    return (v[:k] * scale[:, None]).reshape(k, *centered.shape[1:])


def masked_mse(pred, target, mask, weights=None):
    """pred, target: (B, T, H, W); mask: (T, H, W) bool; weights: (T,) or None."""
    err = (pred - target).pow(2) * mask
    if weights is not None:
        err = err * weights[:, None, None]
    return err.sum() / (mask.sum() * pred.shape[0])


def train_generator(zoo_dir: str | Path, out_dir: str | Path, config: C.GeneratorConfig,
                    holdout: tuple[str, ...] = (), tasks: tuple[str, ...] | None = None) -> dict:
    """Train (or resume) a generator in `out_dir`; returns the saved generator config."""
    zoo_dir, out_dir = Path(zoo_dir), Path(out_dir)
    manifest = zm.load_manifest(zoo_dir)
    train_tasks = [t for t in (tasks or manifest["tasks"]) if t not in holdout]
    unknown = [t for t in train_tasks if t not in manifest["tasks"]]
    if unknown:
        raise DndError(f"--tasks: {', '.join(unknown)} not in zoo {zoo_dir}")
    if len(train_tasks) < 1:
        raise DndError(f"no training tasks left in {zoo_dir} after --holdout {','.join(holdout)}")
    if (out_dir / C.MANIFEST).exists():
        done = read_json(out_dir / C.CONFIG)
        if done["tasks"] == train_tasks and done["config"] == config.to_json():
            print(f"dnd train: {out_dir} already trained; reusing it", flush=True)
            return done
        raise DndError(f"{out_dir}: holds a generator trained with other tasks or settings; use another --out")
    zm.verify(zoo_dir, manifest, train_tasks)

    s = config.train
    torch.manual_seed(s.seed)
    layout, zoo_tokens = load_zoo_tokens(zoo_dir, manifest, train_tasks, config.chunk)
    encoder = ConditionEncoder(config.condition, device=s.device)
    pools = {}
    for task in tqdm(train_tasks, desc="encoding prompts", unit="task", leave=False):
        prompts = [it.prompt for it in load_pools(task)[0][: s.max_pool]]
        pools[task] = encoder.cached_features(prompts)  # (n_pool, H, W)

    all_tokens = torch.cat(list(zoo_tokens.values()))  # (K_total, T, H, W)
    # Keep the training data where the decoder is: on a GPU, stacking and copying each
    # batch from host memory would cost more than the step itself.
    zoo_tokens = {t: v.to(s.device) for t, v in zoo_tokens.items()}
    pools = {t: v.to(s.device) for t, v in pools.items()}
    mask = layout.value_mask.to(s.device)
    weights = token_weights(all_tokens, layout.value_mask).to(s.device) if s.token_weighting else None
    token_shape = (layout.n_tokens, *layout.token_shape)
    n_basis = min(config.decoder.n_basis, all_tokens.shape[0] - 1) if config.decoder.n_basis else 0
    decoder = HyperConvDecoder(encoder.cond_shape(), token_shape, config.decoder.hidden_channels,
                               config.decoder.kernel, config.decoder.layer_kernel, n_basis)
    mean_tokens = all_tokens.mean(dim=0)
    decoder.init_output_bias(mean_tokens)
    if n_basis:
        decoder.init_basis(principal_directions(all_tokens - mean_tokens, n_basis))
    decoder.to(s.device)
    opt = torch.optim.AdamW(decoder.parameters(), lr=s.lr, weight_decay=s.weight_decay)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine(step, s.warmup_steps, s.steps))
    rng = torch.Generator().manual_seed(s.seed)
    losses: list[float] = []
    start_step, elapsed = 0, 0.0
    state_path = out_dir / C.STATE
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        if state["config"] != config.to_json() or state["tasks"] != train_tasks:
            raise DndError(f"{state_path}: an interrupted run with other settings; use another --out")
        decoder.load_state_dict(state["decoder"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.set_state(state["rng"])
        losses, start_step, elapsed = state["losses"], state["step"], state["elapsed"]
        print(f"dnd train: resuming {out_dir} at step {start_step}", flush=True)

    def save_state(step: int) -> None:
        state = {"config": config.to_json(), "tasks": train_tasks, "decoder": decoder.state_dict(),
                 "opt": opt.state_dict(), "sched": sched.state_dict(), "rng": rng.get_state(),
                 "losses": losses, "step": step, "elapsed": elapsed}
        atomic_write(state_path, lambda tmp: torch.save(state, tmp))

    decoder.train()
    bar = tqdm(range(start_step, s.steps), desc="train generator", initial=start_step, total=s.steps)
    t0 = time.perf_counter()
    for step in bar:
        conds, targets = [], []
        for _ in range(s.batch_size):
            task = train_tasks[int(torch.randint(len(train_tasks), (1,), generator=rng))]
            k = int(torch.randint(zoo_tokens[task].shape[0], (1,), generator=rng))
            conds.append(ConditionEncoder.batch(pools[task], config.condition.n_prompts, rng))
            targets.append(zoo_tokens[task][k])
        cond = torch.stack(conds)  # (B, N, H, W)
        target = torch.stack(targets)  # (B, T, r, w + 2)
        cond = cond + s.cond_noise * torch.randn_like(cond)
        target = target + s.target_noise * torch.randn_like(target)
        loss = masked_mse(decoder(cond), target, mask, weights)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), s.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if (step + 1) % s.save_every == 0 and step + 1 < s.steps:
            save_state(step + 1)
    elapsed += time.perf_counter() - t0

    saved = {
        "format": "dnd-generator/1",
        "config": config.to_json(),
        "base_model": manifest["base_model"],
        "lora": manifest["lora"],
        "tasks": train_tasks,
        "holdout": list(holdout),
        "zoo": str(zoo_dir.resolve()),
        "cond_shape": list(encoder.cond_shape()),
        "token_shape": list(token_shape),
        "n_basis": n_basis,
        "parameters": sum(p.numel() for p in decoder.parameters()),
        "train_time_s": round(elapsed, 1),
        "final_loss": losses[-1] if losses else None,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    save_safetensors(out_dir / C.WEIGHTS, {k: v.float() for k, v in decoder.state_dict().items()})
    write_json(out_dir / LAYOUT, layout.to_json())
    write_json(out_dir / C.LOSSES, losses)
    write_json(out_dir / C.CONFIG, saved)
    files = [C.WEIGHTS, LAYOUT, C.LOSSES, C.CONFIG]
    write_json(out_dir / C.MANIFEST, {f: sha256_file(out_dir / f) for f in files})  # written last: "done"
    if state_path.exists():
        os.unlink(state_path)
    return saved
