"""Inference: prompts in, a standard PEFT adapter out, in one forward pass.

    gen = Generator.from_pretrained("GEN_DIR")
    state_dict = gen.generate(["prompt one", "prompt two", ...])
    gen.save_adapter(state_dict, "ADAPTER_DIR")   # adapter_config.json + adapter_model.safetensors
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file

from dnd.errors import DndError
from dnd.fileio import atomic_dir, read_json, save_safetensors, sha256_file, write_json
from dnd.generator import config as C
from dnd.generator.condition import ConditionEncoder
from dnd.generator.decoder import HyperConvDecoder
from dnd.generator.tokenizer import LoraLayout
from dnd.generator.train import LAYOUT
from dnd.zoo.lora import LoraSettings
from dnd.zoo.manifest import ADAPTER_WEIGHTS

GENERATION_INFO = "dnd_generation.json"


class Generator:
    """A trained prompt-to-LoRA generator (decoder + frozen encoder + LoRA layout)."""

    def __init__(self, saved: dict, layout: LoraLayout, decoder: HyperConvDecoder, device: str = "cpu"):
        self.saved, self.layout, self.decoder, self.device = saved, layout, decoder, device
        self.config = C.GeneratorConfig.from_json(saved["config"])
        self.lora = LoraSettings.from_json(saved["lora"])
        self.encoder = ConditionEncoder(self.config.condition, device=device)

    @property
    def base_model(self) -> dict:
        """Identity (name, weights sha256) of the base model the adapters are for."""
        return self.saved["base_model"]

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu", verify: bool = True) -> "Generator":
        path = Path(path)
        if not (path / C.MANIFEST).exists():
            raise DndError(f"{path}: not a trained generator (no {C.MANIFEST}; is `dnd train` finished?)")
        if verify:
            for name, sha in read_json(path / C.MANIFEST).items():
                if sha256_file(path / name) != sha:
                    raise DndError(f"{path / name}: checksum mismatch, the generator is corrupted")
        saved = read_json(path / C.CONFIG)
        layout = LoraLayout.from_json(read_json(path / LAYOUT))
        config = C.GeneratorConfig.from_json(saved["config"])
        decoder = HyperConvDecoder(tuple(saved["cond_shape"]), tuple(saved["token_shape"]),
                                   config.decoder.hidden_channels, config.decoder.kernel,
                                   config.decoder.layer_kernel, saved.get("n_basis", 0))
        decoder.load_state_dict(load_file(path / C.WEIGHTS))
        return cls(saved, layout, decoder.to(device).eval(), device)

    @torch.no_grad()
    def generate(self, prompts: list[str], seed: int = 0, timings: dict | None = None) -> dict[str, torch.Tensor]:
        """N prompts -> a PEFT LoRA state dict. With more than N prompts, N are sampled
        (seeded); with fewer, they are cycled (and a warning is issued)."""
        prompts = [p for p in prompts if p.strip()]
        if not prompts:
            raise DndError("no prompts given: the generator needs at least one")
        n = self.config.condition.n_prompts
        if len(prompts) < n:
            warnings.warn(f"{len(prompts)} prompts given, the generator was trained with {n}; "
                          "reusing prompts to fill the batch (fewer distinct prompts, noisier adapter)")
        t0 = time.perf_counter()
        feats = self.encoder.features(prompts)  # (n_given, H, W)
        t1 = time.perf_counter()
        cond = ConditionEncoder.batch(feats, n, torch.Generator().manual_seed(seed))  # (N, H, W)
        tokens = self.decoder(cond[None].to(self.device))[0].float().cpu()  # (T, r, w + 2)
        state = self.layout.detokenize(tokens)
        t2 = time.perf_counter()
        bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
        if bad:
            raise DndError(f"generated weights are not finite ({len(bad)} matrices, e.g. {bad[0]}); refusing to write them")
        if timings is not None:
            timings.update(encode_s=t1 - t0, decode_s=t2 - t1)
        return state

    def save_adapter(self, state: dict[str, torch.Tensor], out_dir: str | Path, info: dict | None = None) -> Path:
        """Write a PEFT adapter directory (atomically): adapter_config.json,
        adapter_model.safetensors, and dnd_generation.json describing where it came from."""
        bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
        if bad:
            raise DndError(f"weights are not finite ({bad[0]}); refusing to write {out_dir}")
        peft_config = self.lora.to_peft()
        peft_config.base_model_name_or_path = self.base_model["name"]

        def build(tmp: Path) -> None:
            peft_config.save_pretrained(tmp)
            save_safetensors(tmp / ADAPTER_WEIGHTS, state, metadata={"format": "pt"})
            write_json(tmp / GENERATION_INFO, {
                "generator_tasks": self.saved["tasks"], "base_model": self.base_model,
                "adapter_sha256": sha256_file(tmp / ADAPTER_WEIGHTS), **(info or {}),
            })

        atomic_dir(out_dir, build)
        return Path(out_dir)
