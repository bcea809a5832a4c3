"""`dnd reproduce`: the paper's leave-one-out experiment over a suite."""

from __future__ import annotations

import argparse
import shlex

from dnd.assets import DEFAULT_BASE_MODEL, DEFAULT_ENCODER
from dnd.cli.args import nonneg_int, positive_float, positive_int, suite_tasks
from dnd.errors import DndError


def add_generator_flags(p) -> None:
    g = p.add_argument_group("generator")
    g.add_argument("--gen-steps", type=positive_int, default=200, help="generator training steps per held-out task")
    g.add_argument("--gen-batch-size", type=positive_int, default=8)
    g.add_argument("--gen-lr", type=positive_float, default=1e-3)
    g.add_argument("--n-prompts", type=positive_int, default=128, help="N condition prompts")
    g.add_argument("--minilm-features", choices=("pooled", "tokens"), default="pooled")
    g.add_argument("--encoder-max-tokens", type=positive_int, default=None, help="word pieces the encoder reads per prompt")
    g.add_argument("--hidden-channels", default=None, help="decoder stage channels, e.g. 64,64")
    g.add_argument("--size", choices=("cpu", "paper"), default="cpu")
    g.add_argument("--n-basis", type=nonneg_int, default=16, help="basis head size (0: the paper's conv output)")
    g.add_argument("--encoder", default=DEFAULT_ENCODER)


def add_zoo_flags(p) -> None:
    z = p.add_argument_group("zoo (built for the suite's tasks missing from --zoo)")
    z.add_argument("--zoo-steps", type=positive_int, default=None, help="default: 150 CPU, 300 CUDA")
    z.add_argument("--zoo-keep", type=positive_int, default=None, help="default: 10 CPU, 50 CUDA")
    z.add_argument("--zoo-lr", type=positive_float, default=1e-4)
    z.add_argument("--zoo-batch-size", type=positive_int, default=8)
    z.add_argument("--zoo-max-length", type=positive_int, default=256)


def register(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="leave-one-out over a suite: DnD against every baseline",
        description="For each task of the suite: train a generator on the other tasks, generate an adapter "
        "from N unlabeled prompts of the held-out task's train pool, and score it with the base model, the "
        "training LoRAs (mean, best), their weight average, the nearest LoRA by prompt embedding, 1-shot and "
        "k-shot ICL and the full-shot LoRA, on the same eval-pool items, under both protocols. Resumable.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--suite", required=True, help="commonsense, short, ...")
    p.add_argument("--out", required=True, metavar="RESULTS_DIR")
    p.add_argument("--zoo", default=None, metavar="ZOO_DIR", help="zoo to use and extend (default RESULTS_DIR/work/SUITE/zoo)")
    p.add_argument("--tasks", default="", help="only these held-out tasks of the suite (default: all)")
    p.add_argument("--train-on", choices=("suite", "zoo"), default="suite",
                   help="generator trains on the suite's other tasks, or on every other task of the zoo")
    p.add_argument("--protocols", default="loglik,generate")
    p.add_argument("--limit", type=positive_int, default=None, help="scored items per task (default: the whole eval pool)")
    p.add_argument("--icl-context", type=positive_int, default=2048, help="token budget that sets the largest k for k-shot ICL")
    p.add_argument("--batch-size", type=positive_int, default=16, help="evaluation batch size")
    p.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    p.add_argument("--device", default="cpu")
    add_zoo_flags(p)
    add_generator_flags(p)
    p.set_defaults(func=run)


def generator_config(args):
    from dnd.cli.train_cmd import config_from_args

    ns = argparse.Namespace(
        size=args.size, hidden_channels=args.hidden_channels, minilm_features=args.minilm_features, n_prompts=args.n_prompts,
        encoder=args.encoder, steps=args.gen_steps, batch_size=args.gen_batch_size, lr=args.gen_lr,
        weight_decay=0.1, cond_noise=1e-4, target_noise=1e-5, no_token_weighting=False, seed=0,
        device=args.device, chunk=None, n_basis=args.n_basis, encoder_max_tokens=args.encoder_max_tokens)
    return config_from_args(ns)


def zoo_train_settings(args):
    from dnd.lora.train import TrainSettings
    from dnd.zoo.build import cpu_defaults

    steps, keep = cpu_defaults(args.device)
    return TrainSettings(steps=args.zoo_steps or steps, batch_size=args.zoo_batch_size, lr=args.zoo_lr,
                         max_length=args.zoo_max_length, device=args.device), args.zoo_keep or keep


def run(args) -> int:
    from dnd.artifacts import check_output
    from dnd.evaluation.reproduce import ReproduceSettings, run_reproduce

    tasks = suite_tasks(args.suite, args.tasks)
    protocols = tuple(p.strip() for p in args.protocols.split(",") if p.strip())
    if not protocols or any(p not in ("loglik", "generate") for p in protocols):
        raise DndError(f"--protocols {args.protocols!r}: expected loglik and/or generate")
    check_output(args.out, "--out", "results")  # before any work: a file, another artifact, unwritable
    if args.zoo:
        check_output(args.zoo, "--zoo", "zoo")
    zoo_train, zoo_keep = zoo_train_settings(args)
    settings = ReproduceSettings(
        suite=args.suite, out=args.out, zoo=args.zoo, tasks=tasks, train_on=args.train_on, protocols=protocols,
        limit=args.limit, icl_context=args.icl_context, batch_size=args.batch_size, base_model=args.base_model,
        device=args.device, zoo_train=zoo_train, zoo_keep=zoo_keep, generator=generator_config(args))
    command = "dnd " + " ".join(shlex.quote(a) for a in args.argv)  # as typed, or as `python -m dnd.cli.main`
    results = run_reproduce(settings, command=command)
    print(f"wrote {args.out}/{args.suite}.md, .json, .png ({len(results['tasks'])} task(s))")
    return 0
