"""The functional objective at real scale: the default base model (SmolLM2-135M) and the
default compact shared head, trained on a few tasks' task loss, no zoo.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_functional.py \
        [--tasks sst2,rte,mrpc,boolq] [--steps 20] [--batch-size 4] [--items-per-task 4] \
        [--precision fp32] [--eval-items 32] [--out runs/bench_functional]

Printed: the head's parameter count, seconds per training step (wall time of the run /
steps; each step is batch_size conditions, each a forward and backward pass of the base
model on items_per_task labeled items), the training loss over the first and last quarter
of the run, and, for each task, the answer-token loss on `eval_items` of its eval pool
under the base model and under the adapters generated from 128 train-pool prompts, from
its description alone, and from both. The tasks are the training tasks: this measures
that the objective trains, not generalization to unseen tasks.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from dnd.assets import DEFAULT_BASE_MODEL, load_base_model
from dnd.fileio import read_json
from dnd.generator import config as C
from dnd.generator.descriptions import task_descriptions
from dnd.generator.generate import Generator
from dnd.generator.objectives.functional import FunctionalLoss
from dnd.generator.train import train_generator
from dnd.tasks.registry import load_pools


@torch.no_grad()
def answer_loss(loss: FunctionalLoss, state: dict, examples, batch: int = 4) -> float:
    parts = [float(loss(state, examples[i : i + batch])) for i in range(0, len(examples), batch)]
    return sum(parts) / len(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="sst2,rte,mrpc,boolq")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--items-per-task", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--eval-items", type=int, default=32)
    ap.add_argument("--out", default="runs/bench_functional")
    args = ap.parse_args()
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    out = Path(args.out) / args.precision
    shutil.rmtree(out, ignore_errors=True)
    config = C.GeneratorConfig(head=C.HeadSettings(), train=C.GenTrainSettings(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=max(1, args.steps // 10),
        objective="functional", items_per_task=args.items_per_task, precision=args.precision, save_every=10**9))
    saved = train_generator(None, out, config, tasks=tasks)
    losses = read_json(out / C.LOSSES)
    q = max(1, len(losses) // 4)
    print(f"head: shared, {saved['parameters']:,} parameters; precision {args.precision}; "
          f"{len(tasks)} tasks, batch {args.batch_size} x {args.items_per_task} items")
    print(f"train: {saved['train_time_s'] / args.steps:.2f} s/step over {args.steps} steps; "
          f"loss first quarter {sum(losses[:q]) / q:.3f}, last quarter {sum(losses[-q:]) / q:.3f}")

    gen = Generator.from_pretrained(out)
    model, tok = load_base_model(DEFAULT_BASE_MODEL)
    loss = FunctionalLoss(model, tok, gen.lora)
    print(f"{'task':<12} {'base':>7} {'prompts':>8} {'descr.':>7} {'both':>7}   (answer-token loss, "
          f"{args.eval_items} eval-pool items)")
    for task in tasks:
        train, evals = load_pools(task)
        examples = loss.encode(evals[: args.eval_items])
        prompts = [it.prompt for it in train[:128]]
        desc = task_descriptions(task, prompts)[0]
        states = {"prompts": gen.generate(prompts), "descr.": gen.generate(None, description=desc),
                  "both": gen.generate(prompts, description=desc)}
        zero = {k: torch.zeros_like(v) if "lora_B" in k else v for k, v in states["prompts"].items()}
        row = [answer_loss(loss, zero, examples)] + [answer_loss(loss, s, examples) for s in states.values()]
        print(f"{task:<12} " + " ".join(f"{v:>7.3f}" for v in row))


if __name__ == "__main__":
    main()
