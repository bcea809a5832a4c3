"""How close a generator's adapters come to the zoo's LoRAs, in weight space: cosine
between the generated lora_B weights and each task's full-shot lora_B, for the prompts of
every training task and of the held-out one. Uses train-pool prompts and zoo weights only,
never a scored item, so it can choose generator settings.

    .venv/bin/python benchmarks/weight_fit.py --generator GEN_DIR --zoo ZOO_DIR --heldout arc_e
"""

from __future__ import annotations

import argparse

from safetensors.torch import load_file

from dnd.evaluation.baselines import b_cosine
from dnd.fileio import read_json
from dnd.generator.generate import Generator
from dnd.lora.combine import average_states
from dnd.tasks.registry import load_pools


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", required=True)
    ap.add_argument("--zoo", required=True)
    ap.add_argument("--heldout", required=True)
    args = ap.parse_args()
    manifest = read_json(f"{args.zoo}/manifest.json")
    gen = Generator.from_pretrained(args.generator)
    tasks = gen.saved["tasks"] + [args.heldout]
    own = {t: load_file(f"{args.zoo}/{manifest['tasks'][t]['full_shot']['path']}/adapter_model.safetensors") for t in tasks}
    avg = average_states([own[t] for t in gen.saved["tasks"]])
    n = gen.config.condition.n_prompts
    print(f"generator {args.generator} (n_basis {gen.saved.get('n_basis', 0)}, final loss {gen.saved['final_loss']:.4f})")
    print(f"{'prompts of':<14}{'cos(gen, own)':>15}{'best other':>26}{'cos(avg, own)':>15}")
    for t in tasks:
        g = gen.generate([it.prompt for it in load_pools(t)[0][:n]])
        sims = {u: b_cosine(g, own[u]) for u in tasks}
        other = max((u for u in tasks if u != t), key=sims.get)
        tag = " (held out)" if t == args.heldout else ""
        print(f"{t + tag:<14}{sims[t]:>15.3f}{other + f' {sims[other]:.3f}':>26}{b_cosine(avg, own[t]):>15.3f}")


if __name__ == "__main__":
    main()
