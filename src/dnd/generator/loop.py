"""The generator's one training loop, for every objective and head.

    for each step:
        batch = sampler.draw(B)                      conditions (+ targets / labeled items)
        batch.cond += noise                          (paper: 1e-4)
        out = head(batch)                            the generated LoRA of each condition
        loss = sum of the objectives' terms          each backpropagated (objectives/base.py)
        clip, AdamW step, warmup-cosine schedule
        every save_every steps: the resumable state (state.py)
        at step 0 and every curve_every steps: the held-out loss (curve.py), if there is a curve
        past max_time seconds of training (resumed runs' time included): stop there, as if done

A killed run resumes from its last saved state and ends with the same weights as an
uninterrupted one (the RNGs are part of the state).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dnd.generator import config as C
from dnd.generator.objectives.base import total_loss_and_backward
from dnd.generator.state import load_train_state, save_train_state
from dnd.lora.train import warmup_cosine


def run_loop(training, config: C.GeneratorConfig, tasks: list[str], out_dir: Path, curve=None,
             max_time: float | None = None) -> dict:
    """Train `training` (build.Training) for config.train.steps, resuming from `out_dir`.
    curve: a curve.LearningCurve or None. max_time: seconds of training after which the
    loop stops early (the learning-rate schedule stays the one of config.train.steps, as
    with Lightning's max_time). -> {"losses", "elapsed", "curve", "steps_done"}."""
    s = config.train
    net = training.net
    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine(step, s.warmup_steps, s.steps))
    rng = torch.Generator().manual_seed(s.seed)
    losses: list[float] = []
    points: list[dict] = []
    start_step, elapsed = 0, 0.0
    resumed = load_train_state(out_dir, config, tasks, net, opt, sched, rng)
    if resumed is not None:
        losses, start_step, elapsed = resumed["losses"], resumed["step"], resumed["elapsed"]
        points = resumed.get("curve", [])
        print(f"dnd train: resuming {out_dir} at step {start_step}", flush=True)

    if curve is not None and start_step == 0:  # step 0: the reference adapter alone (the delta starts at zero)
        points.append(curve.measure(training, 0))
    net.train()
    bar = tqdm(range(start_step, s.steps), desc=f"train generator ({s.objective})", initial=start_step,
               total=s.steps)
    t0 = time.perf_counter()
    for step in bar:
        batch = training.sampler.draw(s.batch_size, rng)
        batch.cond = batch.cond + s.cond_noise * torch.randn_like(batch.cond)  # global RNG, saved with the state
        out = training.head(batch)
        loss = total_loss_and_backward(training.objectives, out, batch)
        torch.nn.utils.clip_grad_norm_(net.parameters(), s.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if curve is not None and curve.due(step + 1, s.steps):
            points.append(curve.measure(training, step + 1))
        if (step + 1) % s.save_every == 0 and step + 1 < s.steps:
            save_train_state(out_dir, config, tasks, net, opt, sched, rng, losses, step + 1,
                             elapsed + time.perf_counter() - t0, curve=points)
        if max_time is not None and elapsed + time.perf_counter() - t0 >= max_time and step + 1 < s.steps:
            bar.close()
            print(f"dnd train: --max-time {max_time:g} s reached at step {step + 1} of {s.steps}; "
                  "saving the generator as it is", flush=True)
            if curve is not None and (not points or points[-1]["step"] != step + 1):  # the end point
                points.append(curve.measure(training, step + 1))
            break
    elapsed += time.perf_counter() - t0
    return {"losses": losses, "elapsed": elapsed, "curve": points, "steps_done": len(losses)}  # one loss a step
