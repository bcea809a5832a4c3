"""A zoo holding one multi-task LoRA: the shipped generator's reference (the 120-step `wide`
multi-task LoRA of the CPU zoo, stored in fp32 beside the generator), for a machine where
that zoo was never built. `dnd benchmark --zoo ZOO` then scores it as `multitask_lora`.

    python scripts/shipped_reference_zoo.py runs/zoo-shipped-ref

The manifest's multi-task entry is the CPU zoo's (results/zoo-wide-cpu.json: its 168 tasks,
training settings and loss), with the path and sha256 of the adapter written here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from safetensors.torch import save_file

from dnd.artifacts import ADAPTER_CONFIG, ADAPTER_WEIGHTS, load_safetensors
from dnd.assets import base_model_identity
from dnd.fileio import atomic_dir, read_json, sha256_file, write_json
from dnd.generator.pretrained import PRETRAINED_DIR as SHIPPED_DIR
from dnd.zoo import manifest as zm

REL = Path("_multitask/wide/adapter")


def main(out: str) -> None:
    zoo = Path(out)
    if (zoo / zm.MANIFEST).exists():
        print(f"{zoo}: exists")
        return
    config = read_json(SHIPPED_DIR / "generator_config.json")
    state = load_safetensors(SHIPPED_DIR / "reference.safetensors")
    lora = config["lora"]

    def build(tmp: Path) -> None:
        save_file(state, str(tmp / ADAPTER_WEIGHTS))
        write_json(tmp / ADAPTER_CONFIG, {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": lora["r"],
                                             "lora_alpha": lora["lora_alpha"], "lora_dropout": lora["lora_dropout"],
                                             "target_modules": lora["target_modules"], "bias": "none"})

    atomic_dir(zoo / REL, build)
    entry = dict(json.loads(Path("results/zoo-wide-cpu.json").read_text())["multitask"]["wide"])
    entry.update(path=str(REL), sha256=sha256_file(zoo / REL / ADAPTER_WEIGHTS),
                 source="the shipped generator's reference.safetensors")
    identity = base_model_identity(config["base_model"]["name"])
    manifest = zm.new_manifest(identity.to_json(), lora)
    manifest["multitask"] = {"wide": entry}
    zm.save_manifest(zoo, manifest)
    print(f"{zoo}: the shipped reference as multi-task LoRA 'wide' ({len(entry['tasks'])} tasks)")


if __name__ == "__main__":
    main(sys.argv[1])
