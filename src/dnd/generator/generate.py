"""Inference: prompts in, a standard PEFT adapter out, in one forward pass.

    gen = Generator.from_pretrained("GEN_DIR")      # or Generator.from_pretrained(): the shipped one
    state_dict = gen.generate(["prompt one", "prompt two", ...])
    gen.save_adapter(state_dict, "ADAPTER_DIR")   # adapter_config.json + adapter_model.safetensors
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch

from dnd.artifacts import ADAPTER_WEIGHTS, check_generator_dir, load_safetensors, read_json_file
from dnd.errors import DndError
from dnd.fileio import atomic_dir, save_safetensors, sha256_file, write_json
from dnd.generator import config as C
from dnd.generator.condition import ConditionEncoder
from dnd.lora.attach import bf16_is_fast
from dnd.generator.decoder import HyperConvDecoder
from dnd.generator.tokenizer import LoraLayout
from dnd.lora.settings import LoraSettings

GENERATION_INFO = "dnd_generation.json"
GENERATOR_KEYS = ("config", "base_model", "lora", "tasks", "cond_shape", "token_shape")  # in every config


class Generator:
    """A trained prompt-to-LoRA generator (decoder + frozen encoder + LoRA layout)."""

    def __init__(self, saved: dict, layout: LoraLayout, decoder: HyperConvDecoder, device: str = "cpu"):
        self.saved, self.layout, self.decoder, self.device = saved, layout, decoder, device
        self.config = C.GeneratorConfig.from_json(saved["config"])
        self.lora = LoraSettings.from_json(saved.get("adapter_lora", saved["lora"]))  # what is written
        self.encoder = ConditionEncoder(self.config.condition, device=device)
        self.bf16 = bf16_is_fast(device)  # bf16 encoder where native: features within cosine 0.9999 of fp32
        self.reference: dict[str, torch.Tensor] | None = None  # residual generators: set by from_pretrained
        self._reader = None  # the base model's reading of the prompts (model condition), loaded on first use

    @property
    def reads_model(self) -> bool:
        """Whether the base model's reading of the prompts conditions this generator."""
        return self.config.condition.reads_model

    def use_base_model(self, model, tokenizer) -> None:
        """Share an already loaded base model (e.g. the server's) for the model condition;
        otherwise the first generation loads it."""
        from dnd.generator.model_condition import ModelReader, resolve_layers

        layers = resolve_layers(self.config.condition.model_layers, model.config.num_hidden_layers)
        self._reader = ModelReader(model, tokenizer, layers, identity="", max_length=self.config.train.max_length)

    def model_condition(self, prompts: list[str], choices=None) -> torch.Tensor:
        """(1, M): the base model's reading of `prompts` (model_condition.py)."""
        from dnd.generator.model_condition import aggregate

        if self._reader is None:
            from dnd.assets import load_base_model

            self.use_base_model(*load_base_model(self.base_model["name"], device=self.device))
        return aggregate(self._reader.rows(prompts, choices))[None].to(self.device)

    @property
    def reads_description(self) -> bool:
        """Whether a task description can condition this generator (shared head only)."""
        return bool(self.saved.get("desc_dim"))

    @property
    def base_model(self) -> dict:
        """Identity (name, weights sha256) of the base model the adapters are for."""
        return self.saved["base_model"]

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str = "cpu", verify: bool = True) -> "Generator":
        """Load a generator directory; `path` None loads the shipped default generator
        (dnd.generator.pretrained: `Generator.from_pretrained()` is the one-line way).
        `verify` checks every file against the directory's manifest (sha256). Tensors stored
        in bf16/fp16 (the shipped copy) are loaded into fp32 modules and an fp32 reference."""
        from dnd.generator.pretrained import resolve

        shipped, path = path is None, resolve(path)
        check_generator_dir(path, flag="shipped generator" if shipped else "--generator", verify=verify)
        saved = read_json_file(path / C.CONFIG)
        layout = check_layout(path, saved, read_json_file(path / C.LAYOUT))  # (LoraLayout) agrees with the config
        config = C.GeneratorConfig.from_json(saved["config"])
        if config.head is not None:  # the compact shared head (heads.py)
            from dnd.generator.heads import SharedLoraHead

            decoder = SharedLoraHead(tuple(saved["cond_shape"]), layout.keys, layout.shapes,
                                     config.decoder.hidden_channels, config.decoder.kernel,
                                     config.decoder.layer_kernel, width=config.head.width,
                                     embed_dim=config.head.embed_dim, cond_dim=config.head.cond_dim,
                                     desc_dim=saved.get("desc_dim", 0), b_scale=config.head.b_scale,
                                     model_dim=saved.get("model_dim", 0), model_blocks=saved.get("model_blocks", 1),
                                     top_layers=config.head.top_layers)
        else:
            decoder = HyperConvDecoder(tuple(saved["cond_shape"]), tuple(saved["token_shape"]),
                                       config.decoder.hidden_channels, config.decoder.kernel,
                                       config.decoder.layer_kernel, saved.get("n_basis", 0))
        try:
            decoder.load_state_dict(load_safetensors(path / C.WEIGHTS))
        except RuntimeError as e:  # missing / unexpected / mis-shaped tensors
            raise DndError(f"{path / C.WEIGHTS}: does not fit {path / C.CONFIG} "
                           f"({str(e).strip().splitlines()[-1].strip()})") from None
        gen = cls(saved, layout, decoder.to(device).eval(), device)
        if "reference_lora" in saved:
            gen.reference = {k: v.float() for k, v in load_safetensors(path / C.REFERENCE).items()}  # in the manifest
        return gen

    @torch.no_grad()
    def generate(self, prompts: list[str] | None, seed: int = 0, timings: dict | None = None,
                 description: str | None = None, choices=None) -> dict[str, torch.Tensor]:
        """N prompts and/or a task description -> a PEFT LoRA state dict. With more than N
        prompts, N are sampled (seeded); with fewer, they are cycled (and a warning is
        issued). A description needs a generator that reads them (`reads_description`).
        `choices`: the task's answer set, read by a generator with the model condition
        (`reads_model`: the base model reads the first `model_prompts` of the N)."""
        prompts = [p for p in (prompts or []) if p.strip()]
        description = (description or "").strip() or None
        if description is not None and not self.reads_description:
            raise DndError("--description: this generator was trained without descriptions "
                           "(train it with --head shared)")
        if description is not None and not prompts:
            return self._generate_delta(None, description, timings)
        if not prompts:
            raise DndError("no prompts given: the generator needs at least one")
        n = self.config.condition.n_prompts
        if len(prompts) < n:
            warnings.warn(f"{len(prompts)} prompts given, the generator was trained with {n}; "
                          "reusing prompts to fill the batch (fewer distinct prompts, noisier adapter)")
        # Sample first, then encode only the prompts drawn (each once), not every prompt given.
        ts = time.perf_counter()
        order = ConditionEncoder.sample(len(prompts), n, torch.Generator().manual_seed(seed))  # (N,)
        used, where = torch.unique(order, return_inverse=True)  # (n_used,), (N,)
        t0 = time.perf_counter()
        if timings is not None:
            timings["sample_s"] = t0 - ts
        feats = self.encoder.features([prompts[i] for i in used.tolist()], bf16=self.bf16)  # (n_used, H, W)
        cond = feats[where]  # (N, H, W)
        t1 = time.perf_counter()
        if self.config.head is not None:
            model_cond = None
            if self.reads_model:
                first = order[: self.config.condition.model_prompts].tolist()
                model_cond = self.model_condition([prompts[i] for i in first], choices)  # (1, M)
            tm = time.perf_counter()
            state = self._generate_delta(cond if self.config.condition.reads_minilm else None, description,
                                         None, model_cond)
            t2 = time.perf_counter()
            if timings is not None:
                timings.update(encode_s=t1 - t0, model_s=tm - t1, decode_s=t2 - tm)
            return state
        tokens = self.decoder(cond[None].to(self.device))[0].float().cpu()  # (T, r, w + 2)
        state = self.layout.detokenize(tokens)
        t2 = time.perf_counter()
        bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
        if bad:
            raise DndError(f"generated weights are not finite ({len(bad)} matrices, e.g. {bad[0]}); refusing to write them")
        if timings is not None:
            timings.update(encode_s=t1 - t0, decode_s=t2 - t1)
        return state

    def _generate_delta(self, cond: torch.Tensor | None, description: str | None,
                        timings: dict | None, model_cond: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Shared head: condition (N, H, W) and/or a description -> the written adapter's
        state (the reference's ranks and the generated delta's, concatenated)."""
        from dnd.generator.descriptions import encode_descriptions
        from dnd.lora.combine import concat_ranks

        t0 = time.perf_counter()
        desc = encode_descriptions(self.encoder, [description]).to(self.device) if description else None  # (1, D)
        t1 = time.perf_counter()
        delta = self.decoder(cond[None].to(self.device) if cond is not None else None, desc, model_cond=model_cond)
        delta = {k: v[0].float().cpu() for k, v in delta.items()}
        if self.reference is not None:
            ref_lora = LoraSettings.from_json(self.saved["reference_lora"])
            delta = concat_ranks(self.reference, ref_lora, delta, LoraSettings.from_json(self.saved["lora"]))
        state = {k: v.contiguous() for k, v in delta.items()}
        bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
        if bad:
            raise DndError(f"generated weights are not finite ({len(bad)} matrices, e.g. {bad[0]}); refusing to write them")
        if timings is not None:
            timings.update(encode_s=t1 - t0, decode_s=time.perf_counter() - t1)
        return state

    def save_adapter(self, state: dict[str, torch.Tensor], out_dir: str | Path, info: dict | None = None) -> Path:
        """Write a PEFT adapter directory (atomically): adapter_config.json,
        adapter_model.safetensors, and dnd_generation.json describing where it came from."""
        bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
        if bad:
            raise DndError(f"weights are not finite ({bad[0]}); refusing to write {out_dir}")
        from dnd.lora.io import write_adapter_config

        def build(tmp: Path) -> None:
            write_adapter_config(self.lora, self.base_model["name"], tmp)  # peft's file, without importing peft
            save_safetensors(tmp / ADAPTER_WEIGHTS, state, metadata={"format": "pt"})
            write_json(tmp / GENERATION_INFO, {
                "generator_tasks": self.saved["tasks"], "base_model": self.base_model,
                "adapter_sha256": sha256_file(tmp / ADAPTER_WEIGHTS), **(info or {}),
            })

        atomic_dir(out_dir, build)
        return Path(out_dir)


def check_layout(path: str | Path, saved: object, layout_json: object) -> LoraLayout:
    """The generator's LoRA layout (lora_layout.json) as a LoraLayout, once it is known to
    agree with its config: the rank, the target modules and the token grid the decoder emits.
    A generator whose files were built for another base model or LoRA shape is refused."""
    path = Path(path)
    config = path / C.CONFIG
    if not isinstance(saved, dict) or any(k not in saved for k in GENERATOR_KEYS):
        missing = [k for k in GENERATOR_KEYS if not isinstance(saved, dict) or k not in saved]
        raise DndError(f"{config}: not a generator config (no {missing[0]!r})")
    try:
        layout = LoraLayout.from_json(layout_json)
        rows, grid = layout.rows, (layout.n_tokens, *layout.token_shape)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
        raise DndError(f"{path / C.LAYOUT}: not a LoRA layout") from None
    lora = saved["lora"]
    if any(r != lora.get("r") for r in rows):
        raise DndError(f"{path / C.LAYOUT}: LoRA rank {rows[0]} does not match r={lora.get('r')} "
                       f"in {config}; the files come from different generators")
    targets = set(lora.get("target_modules", ()))
    strays = [k for k in layout.keys if not any(f".{t}." in k for t in targets)]
    if strays:
        raise DndError(f"{path / C.LAYOUT}: {strays[0]} is not among the target modules in {config}; "
                       "the files come from different generators")
    if tuple(saved["token_shape"]) != grid:
        raise DndError(f"{config}: token shape {tuple(saved['token_shape'])} does not match the layout's {grid}; "
                       "the generator was built for another LoRA layout")
    return layout
