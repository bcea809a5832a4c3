"""kill -9 battery: `dnd zoo`, `dnd train` (every objective) and `dnd reproduce` are killed
with SIGKILL at seeded random moments, checked for corrupt artifacts, rerun to completion
and compared with an uninterrupted run of the same command.

    .venv/bin/python scripts/kill_battery.py                  # 12 trials, seed 0, tiny models
    .venv/bin/python scripts/kill_battery.py --trials 20 --seed 3 --work /tmp/kb --keep

Everything runs on a tiny random model built in-process (the default model's tokenizer),
one thread per process. "Identical" means: zoo checkpoints and generator weights
byte-for-byte (sha256), loss curves and accuracies equal; only wall-clock figures are
ignored. A trial whose kill lands after the command has finished is redrawn. Exit status
0 when every trial passes; prints one line per trial and a summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"(_s$|time|date|seconds|^command$|over_dnd|^zoo$|^out$|^path$)")


# --- running commands ---------------------------------------------------------------

def dnd_argv(*args) -> list[str]:
    return [sys.executable, "-m", "dnd.cli", *map(str, args)]


def run(argv: list[str], env: dict, kill_after: float | None = None) -> tuple[int | None, float, str]:
    """Run a command; with `kill_after`, SIGKILL it after that many seconds unless it has
    finished. Returns (exit status, or None if killed; seconds; its output)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdout=err, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        try:
            code = p.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            code = None
        err.seek(0)
        tail = err.read().decode(errors="replace")
    return code, time.perf_counter() - t0, tail


# --- what a finished output is, and whether an interrupted one is sound -------------------

def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def strip_timing(obj):
    """A JSON value without wall-clock figures (keys like *_s, *time*, date); PEFT's
    target_modules (a set, written in hash order) sorted."""
    if isinstance(obj, dict):
        return {k: sorted(v) if k == "target_modules" and isinstance(v, list) else strip_timing(v)
                for k, v in obj.items() if not TIMING.search(k)}
    if isinstance(obj, list):
        return [strip_timing(v) for v in obj]
    return obj


def fingerprint(out: Path) -> dict:
    """Every finished artifact under `out` by content: safetensors and losses by sha256,
    other JSON without timing fields. Temporary files (dot names) are not artifacts."""
    fp = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix == ".json":
            value = json.loads(p.read_text())
            if p.name == "manifest.json" and all(isinstance(v, str) for v in value.values()):
                # a generator's checksums: its JSON files (with wall times) are compared by content above
                value = {k: v for k, v in value.items() if not k.endswith(".json")}
            fp[str(rel)] = strip_timing(value)
        elif p.suffix in (".safetensors",):
            fp[str(rel)] = sha(p)
    return fp


def check_sound(out: Path) -> list[str]:
    """Problems of an interrupted output: unreadable JSON or safetensors, a zoo or generator
    manifest that does not match its files. Temporary (dot) files are ignored."""
    from safetensors.torch import load_file

    from dnd.artifacts import artifact_kind, verify_checksums
    from dnd.errors import DndError
    from dnd.zoo import manifest as zm

    problems = []
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        try:
            if p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".safetensors":
                load_file(p)
        except Exception as e:  # noqa: BLE001 (any failure is a finding)
            problems.append(f"{rel}: {type(e).__name__}: {str(e)[:80]}")
    for d in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        if any(part.startswith(".") for part in d.relative_to(out).parts):
            continue
        try:
            kind = artifact_kind(d)
            if kind == "zoo":
                zm.verify(d, zm.load_manifest(d))
            elif kind == "generator" and (d / "manifest.json").exists():
                verify_checksums(d, json.loads((d / "manifest.json").read_text()), "generator")
        except (DndError, ValueError) as e:
            problems.append(f"{d.relative_to(out)}: {e}")
    return problems


# --- the jobs ---------------------------------------------------------------------------

@dataclass
class Job:
    name: str
    argv: Callable[[Path], list[str]]  # output dir -> command line


def jobs(work: Path, model: str, zoo: Path, objectives: list[str]) -> list[Job]:
    zoo_args = ["--rank", "4", "--alpha", "8", "--steps", "8", "--keep", "3", "--batch-size", "2",
                "--max-length", "64", "--lr", "1e-2", "--base-model", model]
    out = [Job("zoo", lambda o: dnd_argv("zoo", "--tasks", "sst2,boolq", "--out", o, *zoo_args))]
    # reconstruction runs past two saved training states (every 100 steps), so most kills
    # resume; the functional objectives (a base-model pass per step) run shorter and restart
    train_args = ["--batch-size", "2", "--n-prompts", "8", "--hidden-channels", "8"]
    for obj in objectives:
        steps = ["--steps", "300" if obj in ("reconstruction", "-") else "12"]
        extra = steps + (["--objective", obj, "--base-model", model, "--items-per-task", "2"] if obj != "-" else [])
        out.append(Job(f"train:{obj if obj != '-' else 'default'}",
                       lambda o, extra=extra: dnd_argv("train", "--zoo", zoo, "--out", o, *train_args, *extra)))
    out.append(Job("reproduce", lambda o: dnd_argv(
        "reproduce", "--suite", "short", "--tasks", "sst2,boolq", "--train-on", "zoo", "--zoo", o / "zoo",
        "--out", o, "--limit", "4", "--protocols", "loglik", "--zoo-steps", "4", "--zoo-keep", "2",
        "--zoo-batch-size", "2", "--zoo-lr", "1e-2", "--zoo-max-length", "64", "--gen-steps", "4",
        "--gen-batch-size", "2", "--n-prompts", "8", "--hidden-channels", "8", "--icl-context", "256",
        "--batch-size", "8", "--base-model", model)))
    return out


def train_objectives() -> list[str]:
    """Every objective `dnd train` offers ("-": a version without --objective)."""
    help_text = subprocess.run(dnd_argv("train", "--help"), capture_output=True, text=True, cwd=REPO).stdout
    m = re.search(r"--objective \{([a-z,]+)\}", help_text)
    return m.group(1).split(",") if m else ["-"]


@dataclass
class Trial:
    job: str
    kill_at: float
    landed: bool
    sound: list[str]
    identical: bool
    rerun_code: int | None
    note: str = ""
    resumed: bool = False  # the rerun said it resumed from a saved state (dnd train)


def trial(job: Job, ref: dict, ref_seconds: float, out: Path, env: dict, rng: random.Random) -> Trial:
    """Kill a run at a random moment (redrawn if it finished first), check what it left,
    rerun it to completion and compare with the uninterrupted run."""
    limit = ref_seconds
    for _ in range(4):
        shutil.rmtree(out, ignore_errors=True)
        kill_at = round(rng.uniform(0.15, 0.9) * limit, 2)
        code, seconds, tail = run(job.argv(out), env, kill_after=kill_at)
        if code is None:
            break
        if code != 0:
            return Trial(job.name, kill_at, False, [], False, code, tail.strip().splitlines()[-1:][0] if tail else "")
        limit = seconds  # finished before the kill (the machine got faster): draw within this run's time
    landed = code is None
    sound = check_sound(out) if out.exists() else []
    code, _, tail = run(job.argv(out), env)
    same = code == 0 and fingerprint(out) == ref
    note = "" if same else (tail.strip().splitlines() or ["outputs differ"])[-1] if code else diff(fingerprint(out), ref)
    return Trial(job.name, kill_at, landed, sound, same, code, note, resumed="resuming" in tail)


def diff(a: dict, b: dict) -> str:
    keys = sorted(set(a) | set(b))
    bad = [k for k in keys if a.get(k) != b.get(k)]
    return f"{len(bad)} artifact(s) differ, e.g. {bad[0]}" if bad else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=12, help="kill trials in all (spread over the jobs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--jobs", default="", help="comma-separated job names to run (default: all)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import build_tiny_zoo, make_tiny_model

    work = Path(args.work or tempfile.mkdtemp(prefix="kill_battery."))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    model = work / "tiny_model"
    if not model.exists():
        make_tiny_model(model)
    zoo = work / "train_zoo"
    if not (zoo / "manifest.json").exists():
        build_tiny_zoo(zoo, str(model))
    all_jobs = jobs(work, str(model), zoo, train_objectives())
    if args.jobs:
        all_jobs = [j for j in all_jobs if j.name.split(":")[0] in args.jobs.split(",") or j.name in args.jobs.split(",")]
    rng = random.Random(args.seed)
    print(f"kill battery: {args.trials} trials over {', '.join(j.name for j in all_jobs)}; seed {args.seed}; work {work}")

    refs = {}
    for job in all_jobs:
        out = work / "ref" / job.name.replace(":", "_")
        shutil.rmtree(out, ignore_errors=True)  # timed from scratch: kill moments are drawn from it
        code, seconds, tail = run(job.argv(out), env)
        if code != 0:
            print(f"  reference {job.name} failed (exit {code}): {tail.strip().splitlines()[-1:]}")
            return 1
        refs[job.name] = (fingerprint(out), seconds)
        print(f"  reference {job.name}: {seconds:.1f} s, {len(refs[job.name][0])} artifacts")

    results = []
    for i in range(args.trials):
        job = all_jobs[i % len(all_jobs)]
        ref, seconds = refs[job.name]
        out = work / "trials" / f"{i:02d}_{job.name.replace(':', '_')}"
        shutil.rmtree(out, ignore_errors=True)
        t = trial(job, ref, seconds, out, env, rng)
        results.append(t)
        status = "ok" if t.identical and not t.sound else "FAIL"
        print(f"  trial {i:2d} {job.name:<22} kill at {t.kill_at:6.2f} s ({'landed' if t.landed else 'finished first'}); "
              f"corrupt: {len(t.sound)}; rerun exit {t.rerun_code}{' (resumed)' if t.resumed else ''}; "
              f"identical: {t.identical}  {status} {t.note}"
              + "".join(f"\n      {p}" for p in t.sound[:3]))
    landed = sum(t.landed for t in results)
    identical = sum(t.identical for t in results)
    corrupt = sum(bool(t.sound) for t in results)
    print(f"{len(results)} trials, {landed} killed mid-run, {corrupt} left a corrupt artifact, "
          f"{sum(t.resumed for t in results)} reruns resumed a saved state, "
          f"{identical} reruns identical to the uninterrupted run")
    return 0 if identical == len(results) and corrupt == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
