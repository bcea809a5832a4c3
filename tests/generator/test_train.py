"""A tiny generator overfits a 2-task tiny zoo."""

from __future__ import annotations

import subprocess
import sys

import torch
from safetensors.torch import load_file

from dnd.artifacts import ADAPTER_WEIGHTS
from dnd.fileio import read_json
from dnd.generator import config as C
from dnd.generator.condition import ConditionSettings
from dnd.generator.generate import Generator
from dnd.generator.train import train_generator
from dnd.tasks.registry import load_pools
from dnd.zoo import manifest as mf

TINY = C.GeneratorConfig(
    condition=ConditionSettings(n_prompts=8),
    decoder=C.DecoderSettings(hidden_channels=(16,)),
    train=C.GenTrainSettings(steps=150, batch_size=4, lr=3e-3, warmup_steps=10, max_pool=64, save_every=50),
)


def flat(sd):
    return torch.cat([v.flatten() for _, v in sorted(sd.items())])


def test_overfits_two_tasks(tiny_zoo, tmp_path):
    out = tmp_path / "gen"
    saved = train_generator(tiny_zoo, out, TINY)
    losses = read_json(out / C.LOSSES)
    assert len(losses) == 150
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last * 10 <= first, (first, last)
    assert saved["tasks"] == ["sst2", "boolq"] and not (out / C.STATE).exists()

    gen = Generator.from_pretrained(out)
    m = mf.load_manifest(tiny_zoo)
    ckpts = {t: [flat(load_file(p / ADAPTER_WEIGHTS)) for p in mf.checkpoint_paths(tiny_zoo, m, t)]
             for t in ("sst2", "boolq")}
    for task, other in (("sst2", "boolq"), ("boolq", "sst2")):
        prompts = [it.prompt for it in load_pools(task)[1][:8]]  # unseen eval-pool prompts
        g = flat(gen.generate(prompts))
        own = min((g - c).pow(2).mean() for c in ckpts[task])
        far = min((g - c).pow(2).mean() for c in ckpts[other])
        assert own < far, (task, own, far)


def test_resume_after_kill(tiny_zoo, tmp_path):
    """Kill training after its first saved state; rerunning resumes instead of restarting."""
    out = tmp_path / "gen"
    args = [sys.executable, "-m", "dnd.cli", "train", "--zoo", str(tiny_zoo), "--out", str(out),
            "--n-prompts", "8", "--hidden-channels", "16", "--steps", "80", "--save-every", "20", "--batch-size", "4"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import time

    deadline = time.time() + 300  # generous: a loaded machine (the suite on every core) is slow to start
    while not (out / C.STATE_INFO).exists() and time.time() < deadline:  # written after the tensors
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert (out / C.STATE).exists() and not (out / C.MANIFEST).exists()
    saved_step = read_json(out / C.STATE_INFO)["step"]
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"resuming {out} at step {saved_step}" in r.stdout
    assert len(read_json(out / C.LOSSES)) == 80
    assert read_json(out / C.CONFIG)["config"]["train"]["save_every"] == 20


def test_holdout_is_never_seen(tiny_zoo, tmp_path):
    saved = train_generator(tiny_zoo, tmp_path / "gen", TINY.__class__(
        condition=TINY.condition, decoder=TINY.decoder,
        train=C.GenTrainSettings(steps=3, batch_size=2, warmup_steps=1, max_pool=16)), holdout=("boolq",))
    assert saved["tasks"] == ["sst2"] and saved["holdout"] == ["boolq"]
