"""How much do generated adapters move away from their reference, and do they differ by task?

Reads the adapters `dnd benchmark` generated (OUT/work/SUITE/adapters/NAME/CONDITION/TASK)
for a residual generator, splits each into its reference ranks and its generated ranks
(dnd.generator.residual writes A = [A_ref; A_gen], B = [B_ref s_ref/s, B_gen], scale s), and
prints per generator and condition:

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

import torch
from safetensors.torch import load_file


def split_delta(path: Path, ref_r: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], float]:
    """-> ([(s B_gen, A_gen) per module], squared norm of the reference part), float64, from
    one written adapter directory."""
    cfg = json.loads((path / "adapter_config.json").read_text())
    s = cfg["lora_alpha"] / cfg["r"]
    w = load_file(path / "adapter_model.safetensors")
    factors, ref_sq = [], 0.0
    for ka in sorted(k for k in w if "lora_A" in k):
        a, b = w[ka].double(), w[ka.replace("lora_A", "lora_B")].double()
        factors.append((s * b[:, ref_r:], a[ref_r:]))
        ref_sq += inner([(s * b[:, :ref_r], a[:ref_r])], [(s * b[:, :ref_r], a[:ref_r])])
    return factors, ref_sq


def inner(x: list, y: list) -> float:
    """Frobenius inner product of sum_m B_m A_m and sum_m B'_m A'_m module by module, via
    r x r matrices: <B A, B' A'> = trace((B^T B') (A' A^T)); never forms the full matrices."""
    return float(sum(torch.trace((b.T @ b2) @ (a2 @ a.T)) for (b, a), (b2, a2) in zip(x, y)))


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
                d, ref_sq = split_delta(t, ref_r)
                deltas.append(d)
                norms.append(inner(d, d) ** 0.5)
                ratios.append(norms[-1] / max(ref_sq, 1e-30) ** 0.5)
            cos = [inner(deltas[i], deltas[j]) / max(norms[i] * norms[j], 1e-30)
                   for i, j in itertools.combinations(range(len(tasks)), 2)]
            print(f"{gen.name:<16}{cond:<14}{len(tasks):>6}{sum(ratios) / len(ratios):>11.4f}"
                  f"{sum(cos) / len(cos):>12.4f}")


if __name__ == "__main__":
    main()
