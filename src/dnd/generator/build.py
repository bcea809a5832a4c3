"""Everything a generator's training run needs, built from its config: the LoRA layout,
the zoo targets, the reference adapter, the conditions (sampler), the network (head) and
the objectives. The loop (loop.py) only steps them.

Order matters for reproducibility: the network is initialised from torch's global RNG
before the functional objective's PEFT copy of the base model (whose own init draws from it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.generator import config as C
from dnd.generator import residual
from dnd.generator.condition import ConditionEncoder
from dnd.generator.curve import HELD_OUT_ITEMS
from dnd.generator.decoder import HyperConvDecoder
from dnd.generator.descriptions import encode_descriptions, task_descriptions
from dnd.generator.head_api import SharedHead, TokenHead
from dnd.generator.heads import SharedLoraHead, lora_sites
from dnd.generator.model_condition import ModelReader, aggregate, feature_dim, label_set, resolve_layers
from dnd.generator.objectives.cached_lower import CachedLowerLoss
from dnd.generator.objectives.contrastive import Contrastive
from dnd.generator.objectives.functional import Functional, FunctionalLoss
from dnd.generator.objectives.reconstruction import DeltaReconstruction, TokenReconstruction
from dnd.generator.sampler import TaskSampler
from dnd.generator.tokenizer import LoraLayout
from dnd.tasks.registry import load_pools
from dnd.zoo import manifest as zm
from dnd.lora.combine import combined_settings, concat_ranks
from dnd.lora.settings import LoraSettings, scale


@dataclass
class Training:
    """The built parts of a run. net: the trained module; head: net behind head_api;
    meta: what the saved generator config records beyond the config itself."""

    net: torch.nn.Module
    head: object
    sampler: TaskSampler
    objectives: list
    layout: LoraLayout
    meta: dict = field(default_factory=dict)
    reference: tuple | None = None  # (state, its LoraSettings, a description) of a residual generator
    functional: FunctionalLoss | None = None  # for the learning curve


def _zoo_checkpoints(zoo_dir: Path, manifest: dict, task: str) -> list[dict[str, torch.Tensor]]:
    return [load_file(p / ADAPTER_WEIGHTS) for p in zm.checkpoint_paths(zoo_dir, manifest, task)]


def load_zoo_tokens(zoo_dir: Path, manifest: dict, tasks: list[str], chunk: int | None):
    """-> (layout, {task: (K, T, H, W) tokens of its kept checkpoints})."""
    layout, tokens = None, {}
    for task in tqdm(tasks, desc="tokenizing zoo", unit="task", leave=False):
        states = _zoo_checkpoints(zoo_dir, manifest, task)
        layout = layout or LoraLayout.from_state_dict(states[0], chunk)
        tokens[task] = torch.stack([layout.tokenize(s) for s in states])
    return layout, tokens


def load_zoo_states(zoo_dir: Path, manifest: dict, tasks: list[str], chunk: int | None):
    """-> (layout, {task: {key: (K, *shape)}}): the kept checkpoints' weights, stacked."""
    layout, out = None, {}
    for task in tqdm(tasks, desc="loading zoo", unit="task", leave=False):
        states = _zoo_checkpoints(zoo_dir, manifest, task)
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


def _conditions(config: C.GeneratorConfig, tasks: list[str], device: str, reads_desc: bool):
    """-> (encoder, {task: (n_pool, H, W)}, {task: items}, {task: (n_d, D)} or None)."""
    encoder = ConditionEncoder(config.condition, device=device)
    pools, items_of, descs = {}, {}, {}
    for task in tqdm(tasks, desc="encoding prompts", unit="task", leave=False):
        items = load_pools(task)[0][: config.train.max_pool]
        prompts = [it.prompt for it in items]
        pools[task] = encoder.cached_features(prompts).to(device)  # (n_pool, H, W)
        items_of[task] = items
        if reads_desc:
            descs[task] = encode_descriptions(encoder, task_descriptions(task, prompts)).to(device)  # (n_d, D)
    return encoder, pools, items_of, (descs if reads_desc else None)


def _labeled_items(s: C.GenTrainSettings, tasks: list[str], items_of: dict) -> dict:
    """{task: labeled items of the functional loss}: the condition pool's own items, or with
    `item_pool` a separate slice of the train pool after the conditions' and the learning
    curve's items (a task whose pool has none left keeps its condition pool)."""
    if not s.item_pool:
        return {t: items_of[t] for t in tasks}
    start = s.max_pool + HELD_OUT_ITEMS
    return {t: load_pools(t)[0][start: start + s.item_pool] or items_of[t] for t in tasks}


def _model_pools(config: C.GeneratorConfig, items_of: dict, model, tok, identity: str) -> tuple[dict, int, int]:
    """The base model's per-prompt rows of every task's pool (model_condition.py), before
    any adapter is attached to the model. -> ({task: (n_pool, k + 1, D)}, M, k + 1)."""
    layers = resolve_layers(config.condition.model_layers, model.config.num_hidden_layers)
    reader = ModelReader(model, tok, layers, identity, max_length=config.train.max_length)
    pools = {t: reader.cached_rows([it.prompt for it in items], label_set(items)).to(config.train.device)
             for t, items in tqdm(items_of.items(), desc="reading prompts with the base model", unit="task",
                                  leave=False)}
    return pools, feature_dim(model.config.hidden_size, layers), 2 * len(layers) + 1


def _zero_delta(layout, reference, delta_lora) -> dict[str, torch.Tensor]:
    """The written adapter with a zero delta: the reference, or zeros (the base model) without one."""
    state = {k: torch.zeros(shape) for k, shape in zip(layout.keys, layout.shapes)}
    if reference is not None:
        state = concat_ranks(reference[0], reference[1], state, delta_lora)  # on the CPU, as `state`
    return state


def _cached_lower_loss(config, lower: dict, written_lora, model, tok, identity) -> CachedLowerLoss:
    """The functional loss over the top layers only: the layers below carry the written
    adapter's lower part, `lower`: the reference with a zero delta (the head writes zeros there)."""
    s = config.train
    return CachedLowerLoss(model, tok, written_lora, config.head.top_layers, lower, s.device, s.max_length,
                           s.precision, identity, one_pass=s.one_pass)


def _layout_and_targets(config: C.GeneratorConfig, tasks, zoo_dir, manifest, model, delta_lora, shared: bool,
                        use_rec: bool):
    """-> (layout, zoo_tokens, zoo_states, all_tokens): the generated LoRA's layout and the
    zoo's checkpoints as a token head (tokens) or a reconstruction objective (states) reads them."""
    layout, zoo_tokens, zoo_states, all_tokens = None, None, None, None
    if manifest is not None and not shared:
        layout, zoo_tokens = load_zoo_tokens(zoo_dir, manifest, tasks, config.chunk)
        all_tokens = torch.cat(list(zoo_tokens.values()))  # (K_total, T, H, W)
    elif manifest is not None and use_rec:
        layout, zoo_states = load_zoo_states(zoo_dir, manifest, tasks, config.chunk)
    if layout is None:
        if manifest is not None:
            layout = LoraLayout.from_state_dict(_zoo_checkpoints(zoo_dir, manifest, tasks[0])[0], config.chunk)
        else:
            layout = LoraLayout.from_base_model(model, delta_lora, config.chunk)
    return layout, zoo_tokens, zoo_states, all_tokens


def _reference(config: C.GeneratorConfig, layout, tasks, zoo_dir, manifest, delta_lora):
    """-> (reference, written_lora): the residual's reference (state on the device, its
    settings, its name) or None, and the settings of the adapter the generator writes."""
    if config.reference == residual.NONE:
        return None, delta_lora
    ref_state, ref_lora, ref_name = residual.load_reference(config.reference, zoo_dir, manifest, tasks)
    residual.check_fits(ref_state, dict(zip(layout.keys, layout.shapes)), config.reference)
    device = config.train.device
    return ({k: v.to(device) for k, v in ref_state.items()}, ref_lora, ref_name), combined_settings(ref_lora, delta_lora)


def _task_loss(config: C.GeneratorConfig, layout, reference, delta_lora, written_lora, model, tok, model_identity: str,
               labeled: dict):
    """-> (loss, {task: encoded labeled items}, objective) of the task-loss objectives: the
    cached-lower loss with a top-layers delta, else the full functional loss."""
    s = config.train
    zero = _zero_delta(layout, reference, delta_lora)  # the written adapter with a zero delta
    if config.head is not None and config.head.top_layers:
        loss = _cached_lower_loss(config, zero, written_lora, model, tok, model_identity)
    else:
        loss = FunctionalLoss(model, tok, written_lora, s.device, s.max_length, s.precision)
    examples = {t: loss.encode(items) for t, items in labeled.items()}
    if s.objective == "contrastive":
        cap = {k: v.to(s.device) for k, v in zero.items()} if s.contrast_cap else None
        return loss, examples, Contrastive(loss, 1.0, s.contrast_weight, s.contrast_margin, s.contrast_detach, cap)
    return loss, examples, Functional(loss, s.hybrid_weight if s.objective == "hybrid" else 1.0)


def build_training(config: C.GeneratorConfig, tasks: list[str], zoo_dir: Path | None, manifest: dict | None,
                   model=None, tok=None, delta_lora: LoraSettings | None = None, model_identity: str = "") -> Training:
    """The parts of a run over `tasks`. model / tok: the base model (needed by the
    functional objective, the model condition and without a zoo); delta_lora: the
    generated LoRA's shape; model_identity: keys the model condition's cache."""
    s = config.train
    shared = config.head is not None
    use_rec, use_func = s.objective in C.ZOO_OBJECTIVES, s.objective in C.TASK_LOSS_OBJECTIVES

    layout, zoo_tokens, zoo_states, all_tokens = _layout_and_targets(config, tasks, zoo_dir, manifest, model,
                                                                     delta_lora, shared, use_rec)
    sites, _ = lora_sites(layout.keys, layout.shapes)
    reference, written_lora = _reference(config, layout, tasks, zoo_dir, manifest, delta_lora)

    # --- conditions ----------------------------------------------------------------------
    reads_desc = shared and config.head.description
    encoder, pools, items_of, descs = _conditions(config, tasks, s.device, reads_desc)
    model_pools, model_dim, model_blocks = None, 0, 1
    if config.condition.reads_model:
        model_pools, model_dim, model_blocks = _model_pools(config, items_of, model, tok, model_identity)

    # --- the network and its objectives ------------------------------------------------------
    token_shape = (layout.n_tokens, *layout.token_shape)
    objectives, n_basis, targets = [], 0, zoo_tokens if zoo_tokens is not None else zoo_states
    if shared:
        h = config.head
        net = SharedLoraHead(encoder.cond_shape(), layout.keys, layout.shapes, config.decoder.hidden_channels,
                             config.decoder.kernel, config.decoder.layer_kernel, width=h.width,
                             embed_dim=h.embed_dim, cond_dim=h.cond_dim, desc_dim=encoder.dim if reads_desc else 0,
                             b_scale=h.b_scale, model_dim=model_dim, model_blocks=model_blocks,
                             top_layers=h.top_layers)
        head = SharedHead(net, reads_desc, reference and (reference[0], reference[1], delta_lora),
                          reads_minilm=config.condition.reads_minilm)
        if use_rec:
            zoo_scale = scale(LoraSettings.from_json(manifest["lora"]))
            objectives.append(DeltaReconstruction(layout.keys, [(x.key_a, x.key_b) for x in sites],
                                                  scale(written_lora), zoo_scale, s.device))
    else:
        n_basis = min(config.decoder.n_basis, all_tokens.shape[0] - 1) if config.decoder.n_basis else 0
        net = HyperConvDecoder(encoder.cond_shape(), token_shape, config.decoder.hidden_channels,
                               config.decoder.kernel, config.decoder.layer_kernel, n_basis)
        mean_tokens = all_tokens.mean(dim=0)
        net.init_output_bias(mean_tokens)
        if n_basis:
            net.init_basis(principal_directions(all_tokens - mean_tokens, n_basis))
        targets = {t: v.to(s.device) for t, v in zoo_tokens.items()}  # stacking from host memory costs more on a GPU
        weights = token_weights(all_tokens, layout.value_mask).to(s.device) if s.token_weighting else None
        head = TokenHead(net, layout)
        if use_rec:
            objectives.append(TokenReconstruction(layout.value_mask.to(s.device), weights, s.target_noise))
        del all_tokens
    net.to(s.device)
    functional, examples = None, None
    if use_func:
        functional, examples, objective = _task_loss(config, layout, reference, delta_lora, written_lora, model, tok,
                                                     model_identity, _labeled_items(s, tasks, items_of))
        objectives.append(objective)

    sampler = TaskSampler(tasks, pools, config.condition.n_prompts, s.device, descs=descs, drop_prob=s.drop_prob,
                          targets=targets if use_rec else None, examples=examples, items_per_task=s.items_per_task,
                          separate_items=bool(s.item_pool),
                          model_pools=model_pools, aggregate=aggregate, model_prompts=config.condition.model_prompts)
    meta = {"cond_shape": list(encoder.cond_shape()), "token_shape": list(token_shape), "n_basis": n_basis,
            "written_lora": written_lora}
    if reads_desc:
        meta["desc_dim"] = encoder.dim
    if model_dim:
        meta.update(model_dim=model_dim, model_blocks=model_blocks)
    return Training(net, head, sampler, objectives, layout, meta, reference, functional)
