"""`dnd demo`: the end-to-end pipeline at small scale on the embedded defaults."""

from __future__ import annotations

from dnd.assets import DEFAULT_BASE_MODEL


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole pipeline end to end at small scale (~10-15 min on 2 CPU cores)",
        description="Builds a small zoo of short-answer LoRAs, trains a generator with RTE held out, "
        "generates an adapter from RTE's unlabeled prompts and compares base, DnD and the training-LoRA "
        "mean on RTE's eval items. A rerun reuses everything already built.",
    )
    p.add_argument("--out", default=None, help="working directory (default: $DND_CACHE/demo)")
    p.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    p.set_defaults(func=run)


def run(args) -> int:
    from dnd.evaluation.demo import DemoSettings, run_demo

    run_demo(DemoSettings(out=args.out, base_model=args.base_model))
    return 0
