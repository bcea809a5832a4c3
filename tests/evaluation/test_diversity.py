"""Delta diversity (`dnd diagnose diversity`) end to end on the tiny generators: the r x r
products against full matrices, the cosine of a generator that ignores its condition, and
the self-describing output directory."""

from __future__ import annotations

import torch

from dnd.cli.main import main
from dnd.evaluation.diversity import (DiversitySettings, cosines, delta_factors, generator_delta_settings, gram,
                                      read_delta, run_diversity, shared_fraction)
from dnd.fileio import read_json, sha256_file
from dnd.generator.generate import Generator
from dnd.tasks.registry import load_pools

TASKS = ("sst2", "boolq", "rte")


def prompts(task: str, n: int) -> list[str]:
    return [it.prompt for it in load_pools(task)[0][:n]]


def full_delta(state: dict, scale: float, ref_r: int) -> torch.Tensor:
    """The delta as one flat vector of every module's full (out, in) matrix s B_gen A_gen."""
    parts = []
    for ka in sorted(k for k in state if "lora_A" in k):
        a, b = state[ka].double(), state[ka.replace("lora_A", "lora_B")].double()
        parts.append((scale * b[:, ref_r:] @ a[ref_r:]).flatten())
    return torch.cat(parts)


def test_rxr_products_match_the_full_matrices(tiny_residual_generator, tiny_generator):
    for path in (tiny_residual_generator, tiny_generator):
        gen = Generator.from_pretrained(path)
        scale, ref_r, _ = generator_delta_settings(gen)
        assert ref_r == (4 if path == tiny_residual_generator else 0)  # the zoo-mean reference's ranks
        states = [gen.generate(prompts(t, gen.config.condition.n_prompts)) for t in TASKS]
        deltas = [delta_factors(s, scale, ref_r)[0] for s in states]
        full = torch.stack([full_delta(s, scale, ref_r) for s in states])  # (T, sum of out x in)
        want = torch.nn.functional.normalize(full, dim=1) @ torch.nn.functional.normalize(full, dim=1).T
        assert torch.allclose(cosines(gram(deltas)), want, atol=1e-9)
        shared = float(full.mean(0) @ full.mean(0)) / float((full * full).sum(1).mean())  # ||mean||^2 / mean ||.||^2
        assert abs(shared_fraction(gram(deltas)) - shared) < 1e-9 and 0 < shared < 1
        if ref_r:  # the reference part's norm, from the first ranks
            _, ref_sq = delta_factors(states[0], scale, ref_r)
            ref = torch.cat([(scale * states[0][k.replace("lora_A", "lora_B")].double()[:, :ref_r]
                              @ states[0][k].double()[:ref_r]).flatten() for k in sorted(states[0]) if "lora_A" in k])
            assert abs(ref_sq - float(ref @ ref)) < 1e-9 * float(ref @ ref)


def test_read_delta_of_a_written_adapter(tmp_path, tiny_residual_generator):
    gen = Generator.from_pretrained(tiny_residual_generator)
    state = gen.generate(prompts("sst2", 8))
    gen.save_adapter(state, tmp_path / "a")
    scale, ref_r, _ = generator_delta_settings(gen)
    (got, got_ref), (want, want_ref) = read_delta(tmp_path / "a", ref_r), delta_factors(state, scale, ref_r)
    assert got_ref == want_ref and all(torch.equal(b, b2) and torch.equal(a, a2) for (b, a), (b2, a2) in zip(got, want))


def check_ranges(r: dict) -> None:
    m = torch.tensor(r["cosine_matrix"])
    assert m.shape == (len(TASKS), len(TASKS)) and (m.abs() <= 1).all()
    assert torch.allclose(m.diagonal(), torch.ones(len(TASKS), dtype=m.dtype), atol=1e-6)
    assert 0 <= r["shared"] <= 1 + 1e-9
    for key in ("pairwise", "shuffled", "resample"):
        lo, mean, hi = r[key]["min"], r[key]["mean"], r[key]["max"]
        assert -1 <= lo <= hi <= 1 and lo - 1e-12 <= mean <= hi + 1e-12
    assert r["pairwise"]["n"] == 3 and r["shuffled"]["n"] == 3


def test_diversity_of_the_tiny_generators(tiny_generator, tiny_residual_generator):
    for path in (tiny_generator, tiny_residual_generator):
        r = run_diversity(DiversitySettings(generator=str(path), tasks=TASKS))
        check_ranges(r)
        m = r["cosine_matrix"]
        for i, t in enumerate(TASKS):  # the shuffled control's adapter for task i is task i+1's
            row = r["tasks"][t]
            assert row["shuffled_from"] == TASKS[(i + 1) % 3] and abs(row["shuffled_cos"] - m[i][(i + 1) % 3]) < 1e-6
            assert row["delta_norm"] > 0 and row["resample"] == "next N prompts"
        assert r["pairwise"]["max"] < 1 - 1e-6  # the condition moves these generators' deltas
        assert ("ref_ratio" in r) == (path == tiny_residual_generator)
        assert r["line"].startswith("delta diversity over 3 tasks")


def test_a_generator_that_ignores_its_condition_gives_cosine_one(tiny_generator, tiny_residual_generator):
    for path in (tiny_generator, tiny_residual_generator):
        gen = Generator.from_pretrained(path)
        with torch.no_grad():  # cut the condition path: the output is then one constant adapter
            if gen.config.head is not None:
                gen.decoder.prompt_proj.weight.zero_()
                gen.decoder.prompt_proj.bias.zero_()
            else:
                gen.decoder.coef.weight.zero_()
        r = run_diversity(DiversitySettings(generator=str(path), tasks=TASKS), gen=gen)
        check_ranges(r)
        for key in ("pairwise", "shuffled", "resample"):
            assert r[key]["min"] > 1 - 1e-6, (key, r[key])
        assert r["shared"] > 1 - 1e-6
        assert r["targets"] == {"mean pairwise cosine < 0.9": False, "true vs shuffled cosine < 0.9": False}
        assert "missed" in r["line"]


def test_the_command_writes_a_self_describing_directory(tmp_path, tiny_generator, capsys):
    out = tmp_path / "diag"
    argv = ["diagnose", "diversity", "--generator", str(tiny_generator), "--suite", "short", "--tasks", ",".join(TASKS),
            "--out", str(out), "--name", "tiny"]
    assert main(argv) == 0
    assert "mean pairwise cosine" in capsys.readouterr().out
    d = out / "tiny"
    r = read_json(d / "diversity.json")
    assert list(r["tasks"]) == list(TASKS) and r["settings"]["tasks"] == list(TASKS)
    assert r["command"].startswith("dnd diagnose diversity") and r["n_prompts"] == 8
    manifest = read_json(d / "manifest.json")
    assert manifest["format"] == "dnd-diagnostics/1"
    assert manifest["generator"]["fingerprint"] == sha256_file(tiny_generator / "manifest.json")[:16]
    assert manifest["files"] == {f: sha256_file(d / f) for f in ("diversity.json", "diversity.md")}
    md = (d / "diversity.md").read_text()
    assert r["line"] in md and "| sst2 |" in md
