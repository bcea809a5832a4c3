"""`dnd diagnose`: the diagnostics ladder's commands, run on every candidate generator.

    dnd diagnose diversity --generator GEN_DIR [--suite wide_val] [--tasks a,b,...] [--out DIR] [--name NAME]
    dnd diagnose recovery  --generator GEN_DIR --zoo ZOO_DIR [--tasks 20] [--limit 100] [--precision bf16] ...
    dnd diagnose summary   --generator GEN_DIR [--out DIR] [--name NAME]      # DIR/NAME.md from DIR/NAME/
    dnd diagnose compare   NAME_A NAME_B [--out DIR]                         # A - B on the recovery rung, paired

Reports go to OUT/NAME/ (NAME: the generator directory's name unless given), which says
which generator it describes (manifest.json); scripts/generator_ladder.sh runs every rung.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from dnd.cli.args import nonneg_int, positive_int, suite_tasks
from dnd.errors import DndError

DEFAULT_OUT = "results/diagnostics"


def _common(p) -> None:
    p.add_argument("--generator", required=True, metavar="GEN_DIR", help="the candidate generator")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="diagnostics root: reports in DIR/NAME/ (default %(default)s)")
    p.add_argument("--name", default=None, help="the candidate's name (default: the generator directory's name)")


def register(sub) -> None:
    p = sub.add_parser("diagnose", help="the diagnostics ladder: delta diversity, seen-task recovery, summary",
                       description="Diagnostics of a candidate generator (issue 21's ladder). "
                       "scripts/generator_ladder.sh runs every rung, the benchmarks included.")
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    rungs = p.add_subparsers(dest="diagnostic", metavar="DIAGNOSTIC")

    d = rungs.add_parser("diversity", help="cosine between the generated deltas of different tasks (target < 0.9)",
                         description="Generate an adapter per task from N unlabeled prompts of its train pool, "
                         "reduce each to its delta (residual generators: the generated ranks; others: the whole "
                         "s B A) and report the mean, min and max pairwise cosine (Frobenius over every module), "
                         "the cosine between true- and shuffled-condition deltas, and between two prompt draws of "
                         "one task. Writes OUT/NAME/diversity.{json,md}.")
    _common(d)
    d.add_argument("--suite", default="wide_val", help="the tasks' suite, default %(default)s (only train-pool prompts are read)")
    d.add_argument("--tasks", default="", help="only these tasks of the suite, comma-separated")
    d.add_argument("--max-tasks", type=positive_int, default=None, help="the suite's first N, round-robin over domains")
    d.add_argument("--seed", type=nonneg_int, default=0, help="condition draw (default 0: the benchmark's)")
    d.add_argument("--device", default="cpu")
    d.set_defaults(func=run_diversity)

    r = rungs.add_parser("recovery", help="seen-task recovery: generated vs own vs multi-task LoRA on training tasks (>= 70%%)",
                         description="On training tasks of the generator that ZOO_DIR holds LoRAs for: base, the "
                         "task's own LoRA, the multi-task LoRA, the adapter generated from fresh train-pool prompts "
                         "and the shuffled control, scored on the same eval-pool items by log-likelihood; recovery = "
                         "mean(DnD - base) / mean(own - base), paired differences. Writes OUT/NAME/recovery.{json,md}; "
                         "scores are cached under OUT/work/recovery (resumable).")
    _common(r)
    r.add_argument("--zoo", required=True, metavar="ZOO_DIR", help="the task LoRAs (and multi-task LoRA)")
    r.add_argument("--tasks", type=positive_int, default=20, help="how many training tasks (default %(default)s)")
    r.add_argument("--limit", type=positive_int, default=100, help="scored items per task, eval-pool order (default %(default)s)")
    r.add_argument("--multitask", default=None, help="name of the zoo's multi-task LoRA (default: wide, or its only one)")
    r.add_argument("--ceiling-zoo", default=None, metavar="ZOO_DIR",
                   help="own LoRAs trained on the top layers only (`dnd zoo --top-layers N`): adds their column, the "
                        "most a generator writing those layers could recover")
    r.add_argument("--seed", type=nonneg_int, default=None, help="condition draw (default: the training seed + 1)")
    r.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="base model weights while scoring (default %(default)s)")
    r.add_argument("--batch-size", type=positive_int, default=16)
    r.add_argument("--device", default="cpu")
    r.set_defaults(func=run_recovery)

    s = rungs.add_parser("summary", help="OUT/NAME.md: every rung's figure, target and control",
                         description="Summarize OUT/NAME/ (diversity, recovery, wide_val and unseen or heldout benchmark "
                         "reports, whichever exist) and the generator's learning curve into OUT/NAME.md.")
    _common(s)
    s.set_defaults(func=run_summary)

    c = rungs.add_parser("compare", help="two candidates' recovery rungs, paired on the same items",
                         description="Candidate A minus candidate B on the seen-task recovery rung: the paired "
                         "difference of their generated adapters (and shuffled controls) over the tasks both were "
                         "scored on, with a two-level bootstrap interval, and each one's recovery on those tasks.")
    c.add_argument("names", nargs=2, metavar="NAME", help="two candidates under --out")
    c.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="diagnostics root (default %(default)s)")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=run_compare)


def _name(args) -> str:
    return args.name or Path(args.generator).resolve().name


def _checked(args) -> None:
    """Refuse a missing or unfinished generator and an --out that is not a directory's place."""
    from dnd.artifacts import check_generator_dir, check_output

    check_generator_dir(args.generator, verify=False)  # checksums: when the diagnostic loads it
    check_output(args.out, "--out", "results")


def _command(args) -> str:
    return "dnd " + " ".join(shlex.quote(a) for a in args.argv)


def run_diversity(args) -> int:
    from dnd.tasks.registry import pick_tasks

    tasks = suite_tasks(args.suite, args.tasks) or tuple(pick_tasks(args.suite, args.max_tasks))
    if len(tasks) < 2:
        raise DndError(f"--tasks: delta diversity needs at least 2 tasks, got {len(tasks)}")
    _checked(args)
    from dnd.evaluation.diversity import DiversitySettings, diagnose

    s = DiversitySettings(generator=args.generator, tasks=tasks, seed=args.seed, device=args.device)
    results, d = diagnose(s, args.out, _name(args), _command(args))
    print(results["line"])
    print(f"wrote {d}/diversity.md, .json")
    return 0


def run_recovery(args) -> int:
    if not Path(args.zoo, "manifest.json").exists():
        raise DndError(f"--zoo {args.zoo}: not a zoo (no manifest.json)")
    _checked(args)
    from dnd.evaluation.recovery import RecoverySettings, run_recovery as run

    s = RecoverySettings(generator=args.generator, zoo=args.zoo, out=args.out, name=_name(args), n_tasks=args.tasks,
                         limit=args.limit, multitask=args.multitask, seed=args.seed, precision=args.precision,
                         batch_size=args.batch_size, device=args.device, ceiling_zoo=args.ceiling_zoo)
    results = run(s, command=_command(args))
    print(results["summary"]["line"])
    print(f"wrote {Path(args.out) / s.name}/recovery.md, .json ({len(results['tasks'])} task(s))")
    return 0


def run_summary(args) -> int:
    from dnd.evaluation.ladder_report import candidate_dir, generator_identity, summarize, update_manifest
    from dnd.fileio import write_text

    name = _name(args)
    identity = generator_identity(args.generator)
    d = candidate_dir(args.out, name, identity)
    if not d.is_dir():
        raise DndError(f"--out {args.out}: no diagnostics of {name} yet ({d} is missing; run the ladder's rungs first)")
    update_manifest(d, identity)  # the benchmark reports written beside the diagnostics
    write_text(Path(args.out) / f"{name}.md", summarize(d, Path(args.generator), name))
    print(f"wrote {Path(args.out) / name}.md")
    return 0


def run_compare(args) -> int:
    import json

    from dnd.evaluation.compare import compare_recovery, format_comparison

    result = compare_recovery(args.out, *args.names)
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return 0
