"""Stage 2: train the generator (prompt batch and/or task description -> LoRA).

Each step draws `batch_size` conditions: a task, a fresh random sample of N prompts from
its train pool (and one of its descriptions, for a head that reads them), and, per
objective (objectives.py):
    reconstruction  one of the task's zoo checkpoints as the target;
    functional      `items_per_task` labeled train-pool items, disjoint from the condition's
                    prompts, whose answer-token loss is taken through the generated LoRA;
    hybrid          both.
Heads: "shared" (heads.py: compact, optionally a residual over a reference adapter),
"basis" and "conv" (decoder.py: token outputs). Held-out and evaluation-only tasks are
never loaded. The training state (safetensors + JSON, no pickle) is saved every
`save_every` steps, so a killed run resumes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.errors import DndError
from dnd.fileio import portable_path, read_json, save_safetensors, sha256_file, write_json
from dnd.generator import config as C
from dnd.generator import residual
from dnd.generator.condition import ConditionEncoder
from dnd.generator.decoder import HyperConvDecoder
from dnd.generator.descriptions import encode_descriptions, task_descriptions
from dnd.generator.heads import SharedLoraHead, lora_sites, tokens_to_state
from dnd.generator.objectives import FunctionalLoss, delta_reconstruction, masked_mse
from dnd.generator.state import load_train_state, save_train_state
from dnd.generator.tokenizer import LoraLayout
from dnd.lora.combine import combined_settings, concat_ranks
from dnd.lora.settings import LoraSettings, scale
from dnd.lora.train import warmup_cosine
from dnd.tasks.registry import check_trainable, get_task, load_pools
from dnd.zoo import manifest as zm

LAYOUT = "lora_layout.json"

__all__ = ["LAYOUT", "masked_mse", "train_generator", "token_weights", "principal_directions"]


def load_zoo_tokens(zoo_dir: Path, manifest: dict, tasks: list[str], chunk: int | None):
    """-> (layout, {task: (K, T, H, W) tokens of its kept checkpoints})."""
    layout, tokens = None, {}
    for task in tqdm(tasks, desc="tokenizing zoo", unit="task", leave=False):
        states = [load_file(p / ADAPTER_WEIGHTS) for p in zm.checkpoint_paths(zoo_dir, manifest, task)]
        layout = layout or LoraLayout.from_state_dict(states[0], chunk)
        tokens[task] = torch.stack([layout.tokenize(s) for s in states])
    return layout, tokens


def load_zoo_states(zoo_dir: Path, manifest: dict, tasks: list[str], chunk: int | None):
    """-> (layout, {task: {key: (K, *shape)}}): the kept checkpoints' weights, stacked."""
    layout, out = None, {}
    for task in tqdm(tasks, desc="loading zoo", unit="task", leave=False):
        states = [load_file(p / ADAPTER_WEIGHTS) for p in zm.checkpoint_paths(zoo_dir, manifest, task)]
        layout = layout or LoraLayout.from_state_dict(states[0], chunk)
        out[task] = {k: torch.stack([s[k].float() for s in states]) for k in layout.keys}
    return layout, out


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


def functional_backward(functional: FunctionalLoss, state: dict[str, torch.Tensor], batch_examples: list,
                        weight: float, retain: bool = False) -> torch.Tensor:
    """Backpropagate weight * (mean over conditions of the task loss) into the generator,
    one condition's base-model graph at a time: the generated weights are cut off the head
    (leaf copies), each condition's loss is backpropagated into them, then their summed
    gradient goes through the head once. -> the mean loss (detached)."""
    leaves = {k: v.detach().requires_grad_() for k, v in state.items()}  # (B, *shape) each
    total = 0.0
    for b, examples in enumerate(batch_examples):
        loss = functional({k: v[b] for k, v in leaves.items()}, examples)
        (loss * (weight / len(batch_examples))).backward()
        total += loss.detach().item() / len(batch_examples)
    keys = [k for k in state if leaves[k].grad is not None]
    torch.autograd.backward([state[k] for k in keys], [leaves[k].grad for k in keys], retain_graph=retain)
    return torch.tensor(total, device=next(iter(state.values())).device)


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
    if s.objective != "functional" and not has_zoo:
        raise DndError(f"--objective {s.objective}: needs --zoo (its targets are the zoo's checkpoints)")
    if config.head is None and not has_zoo:
        raise DndError(f"--head {config.head_kind}: needs --zoo (its output is initialised from the zoo); "
                       "use --head shared")
    if config.reference != residual.NONE and config.head is None:
        raise DndError(f"--reference {config.reference}: only the shared head (--head shared) is residual")
    if config.reference == residual.ZOO_MEAN and not has_zoo:
        raise DndError("--reference zoo-mean: needs --zoo")


def train_generator(zoo_dir: str | Path | None, out_dir: str | Path, config: C.GeneratorConfig,
                    holdout: tuple[str, ...] = (), tasks: tuple[str, ...] | None = None,
                    base_model: str | None = None, lora: LoraSettings | None = None) -> dict:
    """Train (or resume) a generator in `out_dir`; returns the saved generator config.

    zoo_dir may be None for the functional objective with the shared head: then `tasks`
    (registry names) are required, and `base_model` / `lora` (the generated LoRA's shape)
    default to the default model and LoraSettings()."""
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
    objective, shared = s.objective, config.head is not None
    use_rec, use_func = objective in ("reconstruction", "hybrid"), objective in ("functional", "hybrid")
    torch.manual_seed(s.seed)
    if manifest is not None:
        base_name, base_identity = manifest["base_model"]["name"], manifest["base_model"]
        delta_lora = LoraSettings.from_json(manifest["lora"])
    else:
        base_name = base_model or DEFAULT_BASE_MODEL
        delta_lora = lora or LoraSettings()
        base_identity = None

    # --- targets and layout ------------------------------------------------------------
    layout, zoo_tokens, zoo_states, all_tokens = None, None, None, None
    if manifest is not None and not shared:
        layout, zoo_tokens = load_zoo_tokens(zoo_dir, manifest, train_tasks, config.chunk)
        all_tokens = torch.cat(list(zoo_tokens.values()))  # (K_total, T, H, W)
    elif manifest is not None and use_rec:
        layout, zoo_states = load_zoo_states(zoo_dir, manifest, train_tasks, config.chunk)
    model = tok = None
    if use_func or manifest is None:
        model, tok = load_base_model(base_name, device=s.device)
        if base_identity is None:
            base_identity = base_model_identity(base_name, model).to_json()
    if layout is None:
        if manifest is not None:
            first = zm.checkpoint_paths(zoo_dir, manifest, train_tasks[0])[0]
            layout = LoraLayout.from_state_dict(load_file(first / ADAPTER_WEIGHTS), config.chunk)
        else:
            layout = LoraLayout.from_base_model(model, delta_lora, config.chunk)
    sites, _ = lora_sites(layout.keys, layout.shapes)
    pairs = [(site.key_a, site.key_b) for site in sites]

    # --- reference adapter (residual) --------------------------------------------------
    ref_state = ref_lora = None
    ref_name = residual.NONE
    written_lora = delta_lora
    if config.reference != residual.NONE:
        ref_state, ref_lora, ref_name = residual.load_reference(config.reference, zoo_dir, manifest, train_tasks)
        residual.check_fits(ref_state, dict(zip(layout.keys, layout.shapes)), config.reference)
        written_lora = combined_settings(ref_lora, delta_lora)
        ref_state = {k: v.to(s.device) for k, v in ref_state.items()}

    # --- conditions ----------------------------------------------------------------------
    encoder = ConditionEncoder(config.condition, device=s.device)
    reads_desc = shared and config.head.description
    pools, pool_items, descs = {}, {}, {}
    for task in tqdm(train_tasks, desc="encoding prompts", unit="task", leave=False):
        items = load_pools(task)[0][: s.max_pool]
        prompts = [it.prompt for it in items]
        pools[task] = encoder.cached_features(prompts).to(s.device)  # (n_pool, H, W)
        pool_items[task] = items
        if reads_desc:
            descs[task] = encode_descriptions(encoder, task_descriptions(task, prompts)).to(s.device)  # (n_d, D)

    # --- the network -----------------------------------------------------------------------
    token_shape = (layout.n_tokens, *layout.token_shape)
    n_basis = 0
    if shared:
        h = config.head
        net = SharedLoraHead(encoder.cond_shape(), layout.keys, layout.shapes, config.decoder.hidden_channels,
                             config.decoder.kernel, config.decoder.layer_kernel, width=h.width,
                             embed_dim=h.embed_dim, cond_dim=h.cond_dim, desc_dim=encoder.dim if reads_desc else 0,
                             b_scale=h.b_scale)
    else:
        n_basis = min(config.decoder.n_basis, all_tokens.shape[0] - 1) if config.decoder.n_basis else 0
        net = HyperConvDecoder(encoder.cond_shape(), token_shape, config.decoder.hidden_channels,
                               config.decoder.kernel, config.decoder.layer_kernel, n_basis)
        mean_tokens = all_tokens.mean(dim=0)
        net.init_output_bias(mean_tokens)
        if n_basis:
            net.init_basis(principal_directions(all_tokens - mean_tokens, n_basis))
        zoo_tokens = {t: v.to(s.device) for t, v in zoo_tokens.items()}  # stacking from host memory costs more on a GPU
        mask = layout.value_mask.to(s.device)
        weights = token_weights(all_tokens, layout.value_mask).to(s.device) if s.token_weighting else None
        del all_tokens
    net.to(s.device)
    functional = None
    if use_func:
        functional = FunctionalLoss(model, tok, written_lora, s.device, s.max_length, s.precision)
        examples = {t: functional.encode(pool_items[t]) for t in train_tasks}
    zoo_scale, gen_scale = (scale(LoraSettings.from_json(manifest["lora"])) if manifest else 1.0,
                            scale(written_lora))

    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine(step, s.warmup_steps, s.steps))
    rng = torch.Generator().manual_seed(s.seed)
    losses: list[float] = []
    start_step, elapsed = 0, 0.0
    resumed = load_train_state(out_dir, config, train_tasks, net, opt, sched, rng)
    if resumed is not None:
        losses, start_step, elapsed = resumed["losses"], resumed["step"], resumed["elapsed"]
        print(f"dnd train: resuming {out_dir} at step {start_step}", flush=True)

    def rand(n: int) -> int:
        return int(torch.randint(n, (1,), generator=rng))

    def noise(like: torch.Tensor) -> torch.Tensor:  # torch's global RNG, saved with the state
        return torch.randn_like(like)

    net.train()
    bar = tqdm(range(start_step, s.steps), desc=f"train generator ({objective})", initial=start_step,
               total=s.steps)
    t0 = time.perf_counter()
    for step in bar:
        conds, desc, has_p, has_d, targets, batch_examples = [], [], [], [], [], []
        for _ in range(s.batch_size):
            task = train_tasks[rand(len(train_tasks))]
            n_pool = pools[task].shape[0]
            order = torch.randperm(n_pool, generator=rng)
            n = config.condition.n_prompts
            idx = order[:n] if n_pool >= n else order.repeat(-(-n // n_pool))[:n]
            conds.append(pools[task][idx.to(s.device)])  # (N, H, W)
            if reads_desc:
                desc.append(descs[task][rand(descs[task].shape[0])])
                u = float(torch.rand((), generator=rng))
                # drop one of the two inputs with probability drop_prob each (never both)
                has_p.append(0.0 if u < s.drop_prob else 1.0)
                has_d.append(0.0 if s.drop_prob <= u < 2 * s.drop_prob else 1.0)
            if use_rec:
                k = rand(zoo_tokens[task].shape[0] if zoo_tokens is not None else zoo_states[task][layout.keys[0]].shape[0])
                targets.append(zoo_tokens[task][k] if zoo_tokens is not None
                               else {key: v[k] for key, v in zoo_states[task].items()})
            if use_func:
                rest = order[n:] if n_pool > n + s.items_per_task else order.flip(0)  # separate items if the pool allows
                batch_examples.append([examples[task][int(i)] for i in rest[: s.items_per_task]])
        cond = torch.stack(conds)  # (B, N, H, W)
        cond = cond + s.cond_noise * noise(cond)
        rec = func = torch.zeros((), device=s.device)
        if shared:
            kw = {}
            if reads_desc:
                kw = dict(desc=torch.stack(desc), has_prompts=torch.tensor(has_p, device=s.device),
                          has_desc=torch.tensor(has_d, device=s.device))
            state = net(cond, **kw)  # {key: (B, *shape)}
            if ref_state is not None:
                state = concat_ranks(ref_state, ref_lora, state, delta_lora)
            if use_rec:
                target = {k: torch.stack([t[k] for t in targets]).to(s.device) for k in layout.keys}
                rec = delta_reconstruction(state, gen_scale, target, zoo_scale, pairs)
        else:
            tokens = net(cond)  # (B, T, r, w + 2)
            if use_rec:
                target = torch.stack(targets)  # (B, T, r, w + 2)
                target = target + s.target_noise * noise(target)
                rec = masked_mse(tokens, target, mask, weights)
            state = tokens_to_state(layout, tokens) if use_func else None
        weight = s.hybrid_weight if objective == "hybrid" else 1.0
        if use_func:
            func = functional_backward(functional, state, batch_examples, weight, retain=use_rec)
        loss = rec + weight * func if use_func else rec
        if use_rec:
            rec.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), s.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if (step + 1) % s.save_every == 0 and step + 1 < s.steps:
            save_train_state(out_dir, config, train_tasks, net, opt, sched, rng, losses, step + 1,
                             elapsed + time.perf_counter() - t0)
    elapsed += time.perf_counter() - t0

    saved = {
        "format": "dnd-generator/1",
        "config": config.to_json(),
        "base_model": base_identity,
        "lora": delta_lora.to_json(),  # the generated LoRA (the layout's shape)
        "tasks": train_tasks,
        "holdout": list(holdout),
        "zoo": portable_path(zoo_dir.resolve()) if zoo_dir else None,  # no machine's absolute path
        "cond_shape": list(encoder.cond_shape()),
        "token_shape": list(token_shape),
        "n_basis": n_basis,
        "objective": objective,
        "head": config.head_kind,
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_time_s": round(elapsed, 1),
        "final_loss": losses[-1] if losses else None,
    }
    if reads_desc:
        saved["desc_dim"] = encoder.dim
    files = [C.WEIGHTS, LAYOUT, C.LOSSES, C.CONFIG]
    out_dir.mkdir(parents=True, exist_ok=True)
    if ref_state is not None:
        saved.update(reference=portable_path(ref_name), reference_lora=ref_lora.to_json(),
                     adapter_lora=written_lora.to_json())
        save_safetensors(out_dir / C.REFERENCE, {k: v.float() for k, v in ref_state.items()})
        files.insert(0, C.REFERENCE)
    save_safetensors(out_dir / C.WEIGHTS, {k: v.float() for k, v in net.state_dict().items()})
    write_json(out_dir / LAYOUT, layout.to_json())
    write_json(out_dir / C.LOSSES, losses)
    write_json(out_dir / C.CONFIG, saved)
    write_json(out_dir / C.MANIFEST, {f: sha256_file(out_dir / f) for f in files})  # written last: "done"
    for name in (C.STATE_INFO, C.STATE):
        if (out_dir / name).exists():
            os.unlink(out_dir / name)
    return saved
