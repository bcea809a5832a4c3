"""Delta diversity: do a generator's adapters differ by task? (issue 21, the ladder's first rung)

For each task of a list, the generator is conditioned on N unlabeled prompts of the task's
*train pool* (the first N: the condition `dnd benchmark` gives it, same seed; never a
scored item), and each adapter is reduced to its task-specific part, its *delta*:

    residual generator   the generated ranks only: the written adapter is
                         A = [A_ref; A_gen], B = [B_ref s_ref/s, B_gen] (dnd.generator.residual),
                         so the delta is s B_gen A_gen and the reference is left out
    otherwise            the whole adapter, s B A

Per pair of tasks (i, j) the cosine of their deltas is the Frobenius inner product summed
over every adapted module, divided by the norms; it is computed from r x r products,
<B A, B' A'> = trace((B^T B') (A' A^T)), never forming an (out, in) matrix. Reported:

    pairwise    mean / min / max cosine over task pairs (1.0: the delta ignores the
                condition; target < 0.9)
    shared      ||mean delta||^2 / mean ||delta||^2 over the tasks, in [0, 1]: the part of
                the deltas' energy that every task shares (1: one delta for all tasks; from
                the Gram matrix, no new products)
    shuffled    cosine between task i's delta and the delta the shuffled control writes for
                it: the generator conditioned on the next task's prompts (the benchmark's
                pairing; with the same prompts and seed that adapter *is* the next task's)
    resample    cosine between task i's delta and the delta from another N of its train-pool
                prompts (the prompts after the first N where the pool holds them, else
                another seeded draw): the noise floor that cross-task cosines sit above
    ref_ratio   ||delta|| / ||reference||, residual generators only (how far it moves)

    from dnd.evaluation.diversity import DiversitySettings, run_diversity
    results = run_diversity(DiversitySettings(generator="GEN_DIR", tasks=("rte", "sst2", ...)))
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

Factors = list[tuple[torch.Tensor, torch.Tensor]]  # [(s B (out, r), A (r, in)) per module]


@dataclass(frozen=True)
class DiversitySettings:
    generator: str  # GEN_DIR
    tasks: tuple[str, ...]  # at least 2; any registry tasks (only their train pools are read)
    seed: int = 0  # the benchmark's condition seed
    device: str = "cpu"


def delta_factors(state: dict[str, torch.Tensor], scale: float, ref_r: int = 0) -> tuple[Factors, float]:
    """A written adapter's state dict -> ([(s B_gen, A_gen) per module], squared Frobenius norm
    of its reference part), float64. `ref_r`: the reference's ranks (the first ones of every
    module); 0 for a generator without reference (the delta is then the whole s B A)."""
    factors, ref_sq = [], 0.0
    for ka in sorted(k for k in state if "lora_A" in k):
        a, b = state[ka].double(), state[ka.replace("lora_A", "lora_B")].double()  # (r, in), (out, r)
        factors.append((scale * b[:, ref_r:], a[ref_r:]))
        if ref_r:
            ref = [(scale * b[:, :ref_r], a[:ref_r])]
            ref_sq += inner(ref, ref)
    return factors, ref_sq


def read_delta(path: Path, ref_r: int) -> tuple[Factors, float]:
    """`delta_factors` of a written adapter directory (adapter_config.json + safetensors)."""
    from safetensors.torch import load_file

    cfg = json.loads((Path(path) / "adapter_config.json").read_text())
    return delta_factors(load_file(Path(path) / "adapter_model.safetensors"), cfg["lora_alpha"] / cfg["r"], ref_r)


def inner(x: Factors, y: Factors) -> float:
    """Frobenius inner product of sum_m B_m A_m and sum_m B'_m A'_m module by module, via
    r x r matrices: <B A, B' A'> = trace((B^T B') (A' A^T)); never forms the full matrices."""
    return float(sum(torch.trace((b.T @ b2) @ (a2 @ a.T)) for (b, a), (b2, a2) in zip(x, y)))


def gram(deltas: list[Factors]) -> torch.Tensor:
    """(T, T) float64 matrix of the deltas' inner products."""
    g = torch.zeros(len(deltas), len(deltas), dtype=torch.float64)
    for i, j in itertools.combinations_with_replacement(range(len(deltas)), 2):
        g[i, j] = g[j, i] = inner(deltas[i], deltas[j])
    return g


def cosines(g: torch.Tensor) -> torch.Tensor:
    """Gram (T, T) -> cosine matrix (T, T), clamped to [-1, 1] (rounding); 0 for a zero delta."""
    norm = g.diagonal().clamp_min(0).sqrt()  # (T,)
    denom = norm[:, None] * norm[None, :]
    return torch.where(denom > 0, g / denom.clamp_min(1e-300), torch.zeros_like(g)).clamp(-1.0, 1.0)


def shared_fraction(g: torch.Tensor) -> float:
    """Gram (T, T) -> ||mean delta||^2 / mean ||delta||^2 = mean(G) / mean(diag G)."""
    energy = g.diagonal().mean().item()
    return g.mean().item() / energy if energy > 0 else 1.0


def _stats(values: list[float]) -> dict:
    return {"mean": sum(values) / len(values), "min": min(values), "max": max(values), "n": len(values)}


def generator_delta_settings(gen) -> tuple[float, int, str]:
    """-> (scale of the written adapter, reference ranks, what the delta is)."""
    from dnd.lora.settings import LoraSettings

    lora = gen.lora  # the written adapter's shape
    scale = lora.lora_alpha / lora.r
    if gen.reference is not None:
        ref_r = LoraSettings.from_json(gen.saved["reference_lora"]).r
        return scale, ref_r, f"the generated ranks (r {lora.r - ref_r}) of a residual over {gen.saved.get('reference')}"
    return scale, 0, f"the whole adapter s B A (r {lora.r}; no reference)"


def run_diversity(s: DiversitySettings, gen=None) -> dict:
    """Generate one adapter per task (plus its resampled twin) and compare their deltas.
    `gen`: an already loaded Generator to use instead of loading `s.generator` (tests)."""
    from dnd.errors import DndError
    from dnd.generator.generate import Generator
    from dnd.generator.model_condition import label_set
    from dnd.tasks.registry import load_pools

    if len(s.tasks) < 2:
        raise DndError(f"--tasks: delta diversity needs at least 2 tasks, got {len(s.tasks)}")
    gen = gen or Generator.from_pretrained(s.generator, device=s.device)
    n = gen.config.condition.n_prompts
    scale, ref_r, what = generator_delta_settings(gen)
    deltas, twins, rows, t0 = [], [], {}, time.perf_counter()
    for task in s.tasks:
        items = load_pools(task)[0]
        pool = [it.prompt for it in items]
        kw = {"choices": label_set(items)} if gen.reads_model else {}  # a model condition reads the answer set
        factors, ref_sq = delta_factors(gen.generate(pool[:n], seed=s.seed, **kw), scale, ref_r)
        disjoint = len(pool) >= 2 * n  # another N prompts, none of the first N
        again = (gen.generate(pool[n: 2 * n], seed=s.seed, **kw) if disjoint
                 else gen.generate(pool, seed=s.seed + 1, **kw))
        twin, _ = delta_factors(again, scale, ref_r)
        deltas.append(factors)
        twins.append(twin)
        norm = inner(factors, factors) ** 0.5
        rows[task] = {"train_pool": len(pool), "delta_norm": norm, "resample": "next N prompts" if disjoint
                      else f"another draw of the pool (seed {s.seed + 1})"}
        if ref_r:
            rows[task]["ref_ratio"] = norm / max(ref_sq, 1e-300) ** 0.5
    g = gram(deltas)  # (T, T)
    cos = cosines(g)
    tasks, t = list(s.tasks), len(s.tasks)
    pairs = list(itertools.combinations(range(t), 2))
    for i, task in enumerate(tasks):
        donor = (i + 1) % t
        rt = inner(deltas[i], twins[i]) / max((inner(twins[i], twins[i]) * g[i, i].item()) ** 0.5, 1e-300)
        others = [(float(cos[i, j]), tasks[j]) for j in range(t) if j != i]
        rows[task].update(shuffled_from=tasks[donor], shuffled_cos=float(cos[i, donor]),
                          resample_cos=max(-1.0, min(1.0, rt)), nearest=max(others)[1], nearest_cos=max(others)[0])
    results = {
        "diagnostic": "diversity", "date": time.strftime("%Y-%m-%d"), "settings": asdict(s), "n_prompts": n,
        "delta": what, "tasks": rows, "generate_s": round(time.perf_counter() - t0, 1),
        "pairwise": _stats([float(cos[i, j]) for i, j in pairs]),
        "shared": shared_fraction(g),
        "shuffled": _stats([rows[k]["shuffled_cos"] for k in tasks]),
        "resample": _stats([rows[k]["resample_cos"] for k in tasks]),
        "cosine_matrix": [[round(float(x), 6) for x in row] for row in cos],
    }
    if ref_r:
        results["ref_ratio"] = _stats([rows[k]["ref_ratio"] for k in tasks])
    results["targets"] = {"mean pairwise cosine < 0.9": results["pairwise"]["mean"] < 0.9,
                          "true vs shuffled cosine < 0.9": results["shuffled"]["mean"] < 0.9}
    results["line"] = summary_line(results)
    return results


def summary_line(r: dict) -> str:
    """The one markdown line the ladder quotes."""
    p, sh, rs = r["pairwise"], r["shuffled"], r["resample"]
    met = "met" if r["targets"]["mean pairwise cosine < 0.9"] else "**missed**"
    return (f"delta diversity over {len(r['tasks'])} tasks (N = {r['n_prompts']} train-pool prompts each): mean "
            f"pairwise cosine **{p['mean']:.3f}** (min {p['min']:.3f}, max {p['max']:.3f}; target < 0.9: {met}); "
            f"true vs shuffled condition {sh['mean']:.3f}; same task, other prompts {rs['mean']:.3f}; "
            f"shared part of the deltas' energy {r['shared']:.3f}")


def write_markdown(r: dict, title: str) -> str:
    """diversity.md: the line, the per-task table and what the delta is."""
    lines = [f"# Delta diversity: {title}", "", f"Date: {r['date']}. Command:", "", f"```\n{r.get('command', '')}\n```",
             "", f"Delta = {r['delta']}. Cosines are Frobenius over every adapted module.", "", "- " + r["line"]]
    if "ref_ratio" in r:
        lines.append(f"- ||delta|| / ||reference||: mean {r['ref_ratio']['mean']:.4f} "
                     f"(min {r['ref_ratio']['min']:.4f}, max {r['ref_ratio']['max']:.4f})")
    lines += ["", "| task | train pool | nearest other task (cosine) | vs shuffled (from) | same task, other prompts |"
              + (" delta / ref |" if "ref_ratio" in r else ""), "|---|---|---|---|---|" + ("---|" if "ref_ratio" in r else "")]
    for task, row in r["tasks"].items():
        lines.append(f"| {task} | {row['train_pool']} | {row['nearest']} ({row['nearest_cos']:.3f}) | "
                     f"{row['shuffled_cos']:.3f} ({row['shuffled_from']}) | {row['resample_cos']:.4f} |"
                     + (f" {row['ref_ratio']:.4f} |" if "ref_ratio" in row else ""))
    return "\n".join(lines) + "\n"


def diagnose(s: DiversitySettings, out: str, name: str, command: str = "") -> tuple[dict, Path]:
    """`dnd diagnose diversity`: run, then write OUT/NAME/diversity.{json,md} and the manifest."""
    from dnd.evaluation.ladder_report import candidate_dir, generator_identity, write_diagnostic

    identity = generator_identity(s.generator)  # checks the generator's files against its manifest
    d = candidate_dir(out, name, identity)
    results = {"command": command, **run_diversity(s)}
    write_diagnostic(d, "diversity", results, write_markdown(results, f"`{name}`"), identity)
    return results, d
