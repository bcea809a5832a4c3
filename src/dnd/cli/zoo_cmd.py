"""`dnd zoo`: fine-tune one LoRA per task and keep its checkpoint trajectory."""

from __future__ import annotations

import argparse
import json

from dnd.assets import DEFAULT_BASE_MODEL
from dnd.cli.args import nonneg_int, positive_float, positive_int
from dnd.errors import DndError


def register(sub) -> None:
    p = sub.add_parser(
        "zoo",
        help="fine-tune one LoRA per task, keeping late-phase checkpoints (stage 1)",
        description="Fine-tune one PEFT LoRA per task on its train pool (loss on answer tokens) and keep "
        "the last --keep consecutive checkpoints of each run as the generator's training data. "
        "CPU defaults (150 steps, keep 10, batch 8) finish a 7-task zoo in about an hour on 2 cores "
        "(fewer steps or a smaller batch for quicker zoos); with --device cuda the defaults are 300 "
        "steps, keep 50, bf16. Rerunning the same command resumes; adding tasks trains only the new ones.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--tasks", help="comma-separated task or suite names (see `dnd tasks`)")
    p.add_argument("--out", metavar="ZOO_DIR", help="zoo directory (created or resumed)")
    p.add_argument("--list", metavar="ZOO_DIR", help="summarize an existing zoo and verify its checksums")
    p.add_argument("--plot", metavar="ZOO_DIR", help="write ZOO_DIR/losses.png with every task's loss curve")
    p.add_argument("--json", action="store_true", help="with --list: print JSON")
    p.add_argument("--markdown", metavar="FILE.md", help="with --list: also write the per-task table to FILE.md "
                   "and FILE.json (steps, final loss, wall time, base and own-LoRA eval accuracy)")
    p.add_argument("--multitask", metavar="NAME", help="instead of one LoRA per task, train ONE LoRA on the union "
                   "of --tasks (balanced across tasks) and store it in the zoo as NAME")
    p.add_argument("--multitask-factor", type=positive_int, default=3,
                   help="with --multitask: train for this many times --steps")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="bf16: frozen base weights in bf16, answer-only logits, length-grouped batches "
                        "(benchmarks/bench_lora_precision.py); auto: bf16 on a CPU with native bf16 (AVX-512 / AMX), else fp32 "
                        "(on CUDA with bf16 autocast)")
    p.add_argument("--eval-n", type=nonneg_int, default=0,
                   help="score the base model and each task's LoRA (fp32, log-likelihood or generation) on this "
                        "many eval-pool items after training, for the zoo report (0: skip)")
    p.add_argument("--rank", type=positive_int, default=8, help="LoRA rank r")
    p.add_argument("--alpha", type=positive_int, default=16, help="lora_alpha")
    p.add_argument("--target-modules", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    p.add_argument("--lr", type=positive_float, default=1e-4, help="AdamW learning rate (cosine decay)")
    p.add_argument("--top-layers", type=nonneg_int, default=0, metavar="N",
                   help="train only the top N decoder layers' LoRA (the rest stay zero: the part a "
                        "`dnd train --top-layers N` generator writes); 0: every layer")
    p.add_argument("--steps", type=positive_int, default=None, help="optimizer steps per task (default: 150 CPU, 300 CUDA)")
    p.add_argument("--keep", type=positive_int, default=None, help="checkpoints kept per task (default: 10 CPU, 50 CUDA)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--max-length", type=positive_int, default=256, help="longest item in tokens (long prompts lose their middle)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="batch sampling seed")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--base-model", default=DEFAULT_BASE_MODEL, help="default alias, HF model id or local dir")
    p.set_defaults(func=run)


def run(args) -> int:
    from dnd.lora.attach import resolve_precision  # lazy: torch

    if args.list:
        return _list(args.list, args.json, args.markdown)
    if args.plot:
        from dnd.zoo.plot import plot_losses

        print(plot_losses(args.plot))
        return 0
    if not args.tasks or not args.out:
        raise DndError("--tasks and --out are required to build a zoo (or use --list/--plot ZOO_DIR)")
    for flag in ("rank", "alpha", "batch_size", "max_length"):
        if getattr(args, flag) < 1:
            raise DndError(f"--{flag.replace('_', '-')} must be positive")
    from dnd.artifacts import check_output
    from dnd.lora.settings import LoraSettings
    from dnd.lora.train import TrainSettings
    from dnd.tasks.registry import resolve_tasks
    from dnd.zoo.build import ZooSettings, build_zoo, with_device_defaults

    tasks = tuple(t.name for t in resolve_tasks(args.tasks))
    check_output(args.out, "--out", "zoo")  # before any training: a file, another artifact, unwritable
    lora = LoraSettings(r=args.rank, lora_alpha=args.alpha,
                        target_modules=tuple(m.strip() for m in args.target_modules.split(",") if m.strip()))
    precision = resolve_precision(args.precision, args.device)
    train = TrainSettings(lr=args.lr, batch_size=args.batch_size, max_length=args.max_length,
                          seed=args.seed, device=args.device, precision=precision)
    settings = with_device_defaults(
        ZooSettings(tasks=tasks, out=args.out, lora=lora, train=train, base_model=args.base_model,
                    top_layers=args.top_layers),
        args.steps, args.keep)
    if args.multitask is not None:
        from dnd.zoo.multitask import MultitaskSettings, build_multitask

        entry = build_multitask(MultitaskSettings(args.multitask, settings, args.multitask_factor))
        print(f"multi-task LoRA '{args.multitask}' in {args.out}: {len(entry['tasks'])} tasks, "
              f"{entry['train']['steps']} steps, final loss {entry['final_loss']:.4f}, {entry['wall_time_s']} s")
        return 0
    score = None
    if args.eval_n:
        from dnd.evaluation.zoo_eval import own_lora_scorer

        score = own_lora_scorer(settings, args.eval_n)
    manifest = build_zoo(settings, score)
    print(f"zoo {args.out}: {len(manifest['tasks'])} task(s)")
    return _list(args.out, False)


def _list(zoo_dir: str, as_json: bool, markdown: str | None = None) -> int:
    from dnd.zoo import manifest as mf

    manifest = mf.load_manifest(zoo_dir)
    mf.verify(zoo_dir, manifest)
    rows = mf.summary_rows(manifest)
    if markdown:
        from dnd.zoo.report import write_zoo_report

        print(write_zoo_report(manifest, markdown))
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    b = manifest["base_model"]
    print(f"base model {b['name']} ({b['weights_sha256'][:12]}), LoRA {manifest['lora']}")
    print(f"{'task':<16}{'train':>7}{'ckpts':>7}{'steps':>7}{'loss':>9}{'time_s':>9}")
    for r in rows:
        print(f"{r['task']:<16}{r['train_pool']:>7}{r['checkpoints']:>7}{r['steps']:>7}"
              f"{r['final_loss']:>9.4f}{r['wall_time_s']:>9.1f}")
    total = sum(r["wall_time_s"] for r in rows)
    print(f"{len(rows)} tasks, training wall time {total:.0f} s ({total / 60:.1f} min) in all")
    print("all checksums OK")
    return 0
