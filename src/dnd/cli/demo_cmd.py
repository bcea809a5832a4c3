"""`dnd demo`: the shipped generator on three unseen BIG-bench tasks; `--from-scratch`: the
whole pipeline end to end at small scale on the embedded defaults."""

from __future__ import annotations

from dnd.assets import DEFAULT_BASE_MODEL
from dnd.cli.args import positive_int
from dnd.errors import DndError


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="adapters for three never-trained BIG-bench tasks from their unlabeled prompts, scored against "
        "the base model (plain and calibrated) and the multi-task LoRA (minutes on 2 CPU cores); "
        "--from-scratch: the whole pipeline",
        description="Default: with the shipped generator, generates an adapter for each of three unseen "
        "BIG-bench tasks (the first task of each of the first three domains of suite `unseen`) from 32 "
        "unlabeled train-pool prompts, scores base model, DnD and the multi-task LoRA on the first 100 "
        "eval-pool items (log-likelihood), base model and DnD also with batch calibration from the same 32 "
        "unlabeled prompts (tasks whose options vary per item: not calibrated), shows one prompt answered by "
        "the base model and the adapter, and "
        "writes demo.png. --from-scratch instead builds a small zoo, trains a generator with RTE held out and "
        "compares base, DnD and the training-LoRA mean on RTE (~10-15 min). A rerun reuses everything cached.",
    )
    p.add_argument("--out", default=None,
                   help="working directory (default: $DND_CACHE/demo-unseen; --from-scratch: $DND_CACHE/demo)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="scored eval-pool items per task (default 100, as results/unseen.md; --from-scratch: 80)")
    p.add_argument("--generator", default=None, metavar="GEN_DIR",
                   help="a trained generator instead of the shipped one")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                   help="base model weights while scoring (default: bf16, as results/unseen.md, where the CPU computes "
                        "it natively; else fp32, whose figures can differ from the committed ones by an item or so)")
    p.add_argument("--suite", default=None,
                   help="take the three demo tasks from this suite by the same rule (default: unseen where the BIG-bench "
                        "cache is, else wide_val; heldout: the never-trained suite built from PyPI data)")
    p.add_argument("--from-scratch", action="store_true",
                   help="build a small zoo and train a generator first (the old demo)")
    p.add_argument("--base-model", default=DEFAULT_BASE_MODEL, help="with --from-scratch: the base model")
    p.set_defaults(func=run)


def run(args) -> int:
    from dnd.lora.attach import resolve_precision  # lazy: torch

    if not args.from_scratch:
        from dnd.evaluation.demo_unseen import UnseenDemoSettings, run_unseen_demo

        from dnd.tasks.registry import SUITES

        if args.base_model != DEFAULT_BASE_MODEL:
            raise DndError("--base-model: only with --from-scratch (the demo uses the generator's own base model)")
        if args.suite is not None and args.suite not in SUITES:
            raise DndError(f"--suite {args.suite}: unknown (known: {', '.join(SUITES)})")
        run_unseen_demo(UnseenDemoSettings(out=args.out, generator=args.generator, limit=args.limit or 100,
                                           suite=args.suite, precision=args.precision or resolve_precision("auto")))
        return 0
    from dnd.evaluation.demo import DemoSettings, run_demo

    for flag, value in (("--generator", args.generator), ("--precision", args.precision not in (None, "fp32")),
                        ("--suite", args.suite)):
        if value:
            raise DndError(f"{flag}: not with --from-scratch (it trains its own generator and scores in fp32)")
    limit = {"limit": args.limit} if args.limit else {}
    run_demo(DemoSettings(out=args.out, base_model=args.base_model, **limit))
    return 0
