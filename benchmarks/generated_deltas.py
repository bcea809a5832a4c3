"""How much do generated adapters move away from their reference, and do they differ by task?

Reads the adapters `dnd benchmark` generated (OUT/work/SUITE/adapters/NAME/CONDITION/TASK)
for a residual generator, splits each into its reference ranks and its generated ranks
(dnd.generator.residual writes A = [A_ref; A_gen], B = [B_ref s_ref/s, B_gen], scale s), and
prints per generator and condition (the math is dnd.evaluation.diversity's, which measures
the same of a generator directly: `dnd diagnose diversity`):

    delta/ref   ||s B_gen A_gen|| / ||s_ref B_ref A_ref||, Frobenius over every adapted
                module (how far the generator moves from its reference)
    cos(tasks)  mean cosine between the generated deltas of two different tasks (1.0: the
                delta ignores the condition)

    .venv/bin/python benchmarks/generated_deltas.py [--out results] [--suite unseen]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from dnd.evaluation.diversity import inner, read_delta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results")
    ap.add_argument("--suite", default="unseen")
    args = ap.parse_args()
    root = Path(args.out) / "work" / args.suite / "adapters"
    results = json.loads((Path(args.out) / f"{args.suite}.json").read_text())
    gen_dirs = dict(results["settings"]["generators"])  # name -> generator directory
    print(f"{'generator':<16}{'condition':<14}{'tasks':>6}{'delta/ref':>11}{'cos(tasks)':>12}")
    for gen in sorted(p for p in root.iterdir() if p.is_dir() and p.name in gen_dirs):
        for cond in ("prompts", "random_text"):
            tasks = sorted(p for p in (gen / cond).iterdir()) if (gen / cond).is_dir() else []
            if len(tasks) < 2:
                continue
            saved = json.loads((Path(gen_dirs[gen.name]) / "generator_config.json").read_text())
            if "reference_lora" not in saved:
                continue  # not a residual generator
            ref_r = saved["reference_lora"]["r"]  # the first ranks of every written adapter
            deltas, norms, ratios = [], [], []
            for t in tasks:
                d, ref_sq = read_delta(t, ref_r)
                deltas.append(d)
                norms.append(inner(d, d) ** 0.5)
                ratios.append(norms[-1] / max(ref_sq, 1e-30) ** 0.5)
            cos = [inner(deltas[i], deltas[j]) / max(norms[i] * norms[j], 1e-30)
                   for i, j in itertools.combinations(range(len(tasks)), 2)]
            print(f"{gen.name:<16}{cond:<14}{len(tasks):>6}{sum(ratios) / len(ratios):>11.4f}"
                  f"{sum(cos) / len(cos):>12.4f}")


if __name__ == "__main__":
    main()
