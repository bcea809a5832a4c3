"""The scoring cache shared by the benchmark and the recovery rung: weights digests and the
per-task lock that lets parallel runs share a task list."""

import subprocess
import sys

import torch

from dnd.evaluation.cached_scoring import state_digest, task_claim


def test_digest_follows_the_weights():
    a = {"x.lora_A.weight": torch.ones(2, 2)}
    assert state_digest(a) == state_digest({"x.lora_A.weight": torch.ones(2, 2)}) != state_digest(
        {"x.lora_A.weight": torch.zeros(2, 2)})
    assert state_digest(None) == "base"


def test_task_claim_is_exclusive_across_processes(tmp_path):
    """Two runs over the same tasks share them: a task locked by one process is passed over
    by another (and the lock goes with the process)."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from dnd.evaluation.cached_scoring import task_claim\n"
        f"with task_claim(Path({str(tmp_path)!r}), 'a', wait=False) as got:\n"
        "    print(got, flush=True); time.sleep(30)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        with task_claim(tmp_path, "a", wait=False) as got:
            assert got is False
        with task_claim(tmp_path, "b", wait=False) as got:
            assert got is True
    finally:
        holder.kill()
        holder.wait()
    with task_claim(tmp_path, "a", wait=False) as got:  # released when its holder died
        assert got is True
