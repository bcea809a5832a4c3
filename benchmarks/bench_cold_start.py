"""Cold start of `dnd generate` (a fresh process, wall clock) against warm generation (in one
process), with the shipped generator; optionally the start-up of `dnd eval` and `dnd serve`.

    .venv/bin/python benchmarks/bench_cold_start.py                        # sst2, 32 prompts, 5 repeats
    .venv/bin/python benchmarks/bench_cold_start.py --task rte --repeats 7 --eval --serve
    .venv/bin/python benchmarks/bench_cold_start.py --compare              # also the sentence-transformers encoder
    .venv/bin/python benchmarks/bench_cold_start.py --pythonpath OLD/src   # another checkout's code, for before/after

cold     `python -m dnd.cli generate --prompts FILE --out DIR` in a fresh interpreter: wall
         from spawn to exit, and the child's CPU time (user + sys; on a loaded machine the
         better guide to what the wall clock would be on an idle one)
warm     `Generator.generate` + `save_adapter` in this process, after one call that loads
         the encoder
eval     `dnd eval --task TASK --limit 1` (load the base model, score one item), wall
serve    `dnd serve` from spawn until GET /v1/server answers, wall
Every cold adapter is compared with the first (sha256 of adapter_model.safetensors): they
must all be the same bits, and with --compare the same as the sentence-transformers path's.
The issue's target: cold `dnd generate` <= 1.5 s with 32 prompts on the 2-core CPU machine.
Child processes get PYTHONDONTWRITEBYTECODE unset, so compiled modules are cached as in an
install. Prints figures only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, "
            f"n {len(values)})")


def child_env(pythonpath: str | None, backend: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    if backend:
        env["DND_ENCODER_BACKEND"] = backend
    return env


def timed_child(cmd: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds (user + sys) of one child process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), r


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cold_generate(prompts: Path, work: Path, repeats: int, env: dict, tag: str) -> tuple[list, list, set]:
    walls, cpus, digests = [], [], set()
    for i in range(repeats + 1):  # the first run fills caches (bytecode, adapter config): not counted
        out = work / f"{tag}{i}"
        wall, cpu, _ = timed_child([sys.executable, "-m", "dnd.cli", "generate", "--prompts", str(prompts),
                                    "--out", str(out)], env)
        digests.add(sha(out / "adapter_model.safetensors"))
        if i:
            walls.append(wall)
            cpus.append(cpu)
    return walls, cpus, digests


def warm_generate(prompts: list[str], work: Path, repeats: int) -> list[float]:
    from dnd.generator.generate import Generator

    gen = Generator.from_pretrained()
    gen.save_adapter(gen.generate(prompts), work / "warm-up")  # loads the encoder
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        gen.save_adapter(gen.generate(prompts, seed=0), work / f"warm{i}")
        times.append(time.perf_counter() - t)
    return times


def serve_startup(work: Path, env: dict, repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "dnd.cli", "serve", "--port", str(port), "--data",
                                 str(work / f"serve{i}"), "--log-level", "warning"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while True:
                if proc.poll() is not None:
                    sys.exit(f"dnd serve exited: {proc.stderr.read().decode().strip()[-300:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/server", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.05)
            times.append(time.perf_counter() - t)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="sst2", help="whose train-pool prompts are used")
    ap.add_argument("--n", type=int, default=32, help="prompts in the file")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--compare", action="store_true",
                    help="also cold runs with DND_ENCODER_BACKEND=sentence-transformers")
    ap.add_argument("--eval", action="store_true", help="also time `dnd eval --task TASK --limit 1`")
    ap.add_argument("--serve", action="store_true", help="also time `dnd serve` until it answers")
    ap.add_argument("--pythonpath", default=None, help="PYTHONPATH of the child processes (another checkout's src)")
    args = ap.parse_args()

    from dnd.tasks.registry import load_pools

    prompts = [it.prompt for it in load_pools(args.task)[0][: args.n]]
    env = child_env(args.pythonpath)
    print(f"dnd generate, shipped generator, {len(prompts)} {args.task} train-pool prompts; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        file = work / "prompts.jsonl"
        file.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts), encoding="utf-8")
        walls, cpus, digests = cold_generate(file, work, args.repeats, env, "cold")
        print(f"cold  (fresh process) wall {spread(walls)}; cpu {spread(cpus)}")
        if args.compare:
            st_walls, st_cpus, st_digests = cold_generate(file, work, args.repeats,
                                                          child_env(args.pythonpath, "sentence-transformers"), "st")
            print(f"cold, sentence-transformers encoder: wall {spread(st_walls)}; cpu {spread(st_cpus)}")
            digests |= st_digests
        print(f"adapters identical across all cold runs: {'yes' if len(digests) == 1 else f'NO ({len(digests)})'}")
        print(f"warm  (in process)    {spread(warm_generate(prompts, work, args.repeats))}")
        if args.eval:
            evals = [timed_child([sys.executable, "-m", "dnd.cli", "eval", "--task", args.task, "--limit", "1"],
                                 env)[0] for _ in range(args.repeats)]
            print(f"dnd eval --limit 1    wall {spread(evals)}")
        if args.serve:
            print(f"dnd serve to ready    wall {spread(serve_startup(work, env, args.repeats))}")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
