"""`dnd train`: train the parameter generator on a zoo."""

from __future__ import annotations

import argparse
from dataclasses import replace

from dnd.assets import DEFAULT_ENCODER
from dnd.cli.args import nonneg_float, nonneg_int, positive_float, positive_int
from dnd.errors import DndError


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the prompt-to-LoRA generator (stage 2)",
        description="Each step samples several tasks; each gets a fresh random sample of N prompts from its "
        "train pool (and a task description) as the condition. The loss is the distance to one of the task's "
        "zoo checkpoints (reconstruction), the task's next-token loss on separate labeled train-pool items "
        "through the generated LoRA (functional, no zoo needed), both (hybrid), or the functional loss "
        "plus a margin over another task's adapter on the same items (contrastive). Held-out and "
        "evaluation-only tasks are never seen. Rerunning a killed run resumes it from its last saved state.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--zoo", default=None, metavar="ZOO_DIR",
                   help="the zoo (needed by --objective reconstruction and hybrid, --reference zoo-mean "
                        "and the basis/conv heads)")
    p.add_argument("--out", required=True, metavar="GEN_DIR")
    p.add_argument("--holdout", default="", help="comma-separated tasks to leave out")
    p.add_argument("--tasks", default="", help="comma-separated zoo tasks to train on (default: all but --holdout); "
                   "without --zoo, registry tasks or suites (required)")
    p.add_argument("--size", choices=("cpu", "paper"), default="cpu", help="decoder size preset")
    p.add_argument("--hidden-channels", default=None, help="decoder stage channels, e.g. 64,64 (overrides --size)")
    p.add_argument("--condition", choices=("minilm", "model", "both"), default="minilm",
                   help="what the generator reads of the prompts: MiniLM sentence features, the frozen base "
                        "model's reading of them (hidden states at the answer position and its lean over the "
                        "answer set; shared head), or both")
    p.add_argument("--minilm-features", choices=("pooled", "tokens"), default="pooled",
                   help="MiniLM: pooled sentence embeddings or the paper's token-level hidden states")
    p.add_argument("--model-prompts", type=positive_int, default=8,
                   help="--condition model/both: how many of the N prompts the base model reads")
    p.add_argument("--model-layers", default="", help="--condition model/both: layers read, e.g. 15,29 "
                   "(default: the middle and the last)")
    p.add_argument("--n-prompts", type=positive_int, default=128, help="N prompts per condition")
    p.add_argument("--encoder-max-tokens", type=positive_int, default=None,
                   help="word pieces the encoder reads per prompt (default: the encoder's limit; "
                        "lower is faster on a CPU, see benchmarks/bench_encoder.py)")
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--steps", type=positive_int, default=200)
    p.add_argument("--max-time", type=positive_float, default=None, metavar="SECONDS",
                   help="stop after this many seconds of training (a resumed run's earlier time included) and "
                        "save the generator as it is; the learning-rate schedule stays the one of --steps")
    p.add_argument("--save-every", type=positive_int, default=100, metavar="STEPS",
                   help="save the resumable training state every this many steps (a killed run resumes from it)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--weight-decay", type=nonneg_float, default=0.1)
    p.add_argument("--cond-noise", type=nonneg_float, default=1e-4)
    p.add_argument("--target-noise", type=nonneg_float, default=1e-5)
    p.add_argument("--no-token-weighting", action="store_true", help="plain MSE instead of weighting tokens by variability")
    p.add_argument("--n-basis", type=nonneg_int, default=16,
                   help="basis-coefficient head with this many basis adapters (0: the paper's conv output)")
    p.add_argument("--chunk", type=positive_int, default=None, help="LoRA token chunk width (default: inferred)")
    g = p.add_argument_group("objective and head (docs/generator.md)")
    g.add_argument("--objective", choices=("reconstruction", "functional", "hybrid", "contrastive"),
                   default="reconstruction",
                   help="reconstruction: fit the zoo's checkpoints; functional: the task's next-token loss "
                        "through the generated LoRA on the frozen base model (no zoo needed); hybrid: both; "
                        "contrastive: functional + a hinge paying for task-specific adapters (no zoo needed)")
    g.add_argument("--hybrid-weight", type=nonneg_float, default=1.0, help="weight of the functional term in hybrid")
    g.add_argument("--contrast-weight", type=nonneg_float, default=1.0, help="contrastive: weight of the hinge term")
    g.add_argument("--contrast-margin", type=nonneg_float, default=0.1, help="contrastive: the hinge margin (nats)")
    g.add_argument("--contrast-detach", action="store_true",
                   help="contrastive: no gradient into the other task's adapter through the hinge (only the "
                        "condition's own adapter is moved to beat it)")
    g.add_argument("--contrast-cap", action="store_true",
                   help="contrastive: the other task's adapter counts at most as bad as the reference (the "
                        "adapter with a zero delta) on the condition's items, so the margin is paid by beating "
                        "the reference, not by breaking the other task's adapter")
    g.add_argument("--max-pool", type=positive_int, default=512,
                   help="train-pool prompts per task that conditions are sampled from (each is encoded once)")
    g.add_argument("--items-per-task", type=positive_int, default=4,
                   help="labeled train-pool items per condition for the functional loss")
    g.add_argument("--item-pool", type=nonneg_int, default=0,
                   help="labeled items per task kept apart from the condition prompts: the train pool after "
                        "the first --max-pool prompts and the learning curve's held-out items "
                        "(0: drawn from the condition pool, disjoint from each condition's prompts)")
    g.add_argument("--max-length", type=positive_int, default=256,
                   help="tokens per labeled item in the functional loss (and per prompt the base model reads)")
    g.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="fp32",
                   help="base model precision in the functional loss (auto: bf16 where the CPU computes it "
                        "natively, else fp32; the config records the resolved one)")
    g.add_argument("--one-pass", action="store_true",
                   help="with --top-layers: every condition's items in one forward pass, each row through its own "
                        "adapter (same values; faster where per-call overhead dominates, e.g. a GPU; slower on a "
                        "compute-bound CPU: benchmarks/bench_functional_step.py)")
    g.add_argument("--head", choices=("shared", "basis", "conv"), default="shared",
                   help="shared: one compact head for every layer and module (residual, reads descriptions); "
                        "basis / conv: token outputs (--n-basis)")
    g.add_argument("--head-width", type=positive_int, default=64, help="shared head: hidden width = shared bases per module type")
    g.add_argument("--top-layers", type=nonneg_int, default=0,
                   help="shared head: a delta on the top N layers only, the layers below cached in the "
                        "functional loss (several times cheaper steps; docs/generator.md); 0: every layer")
    g.add_argument("--reference", default="auto", metavar="ADAPTER_DIR|zoo-mean|none",
                   help="shared head: the adapter the generated LoRA is a residual over (auto: zoo-mean with "
                        "--zoo, none without)")
    g.add_argument("--no-descriptions", action="store_true", help="shared head: condition on prompts only")
    g.add_argument("--base-model", default=None,
                   help="without --zoo: the base model (default alias, HF id or dir); with --zoo the zoo's is used")
    g.add_argument("--rank", type=positive_int, default=8, help="without --zoo: r of the generated LoRA")
    g.add_argument("--alpha", type=positive_int, default=16, help="without --zoo: its lora_alpha")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def parse_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def config_from_args(args):
    from dnd.generator.condition import ConditionSettings
    from dnd.generator.config import DecoderSettings, GeneratorConfig, GenTrainSettings, HeadSettings
    from dnd.lora.attach import resolve_precision

    for flag in ("n_prompts", "steps", "batch_size"):
        if getattr(args, flag) < 1:
            raise DndError(f"--{flag.replace('_', '-')} must be positive")
    decoder = DecoderSettings.paper() if args.size == "paper" else DecoderSettings()
    head_kind = getattr(args, "head", None) or ("basis" if getattr(args, "n_basis", 0) else "conv")
    decoder = replace(decoder, n_basis=getattr(args, "n_basis", 0) if args.size == "cpu" and head_kind == "basis" else 0)
    if args.hidden_channels:
        try:
            decoder = replace(decoder, hidden_channels=tuple(int(c) for c in parse_list(args.hidden_channels)))
        except ValueError:
            raise DndError(f"--hidden-channels {args.hidden_channels!r}: expected integers like 64,64") from None
    train = GenTrainSettings(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                             weight_decay=args.weight_decay, warmup_steps=min(50, args.steps // 10 + 1),
                             cond_noise=args.cond_noise, target_noise=args.target_noise,
                             token_weighting=not args.no_token_weighting, seed=args.seed, device=args.device,
                             save_every=getattr(args, "save_every", 100),
                             objective=getattr(args, "objective", "reconstruction"),
                             hybrid_weight=getattr(args, "hybrid_weight", 1.0),
                             contrast_weight=getattr(args, "contrast_weight", 1.0),
                             contrast_margin=getattr(args, "contrast_margin", 0.1),
                             contrast_detach=getattr(args, "contrast_detach", False),
                             contrast_cap=getattr(args, "contrast_cap", False),
                             items_per_task=getattr(args, "items_per_task", 4),
                             max_pool=getattr(args, "max_pool", 512),
                             item_pool=getattr(args, "item_pool", 0),
                             max_length=getattr(args, "max_length", 256),
                             precision=resolve_precision(getattr(args, "precision", "fp32"), args.device),
                             one_pass=getattr(args, "one_pass", False))
    try:
        layers = tuple(int(x) for x in parse_list(getattr(args, "model_layers", "")))
    except ValueError:
        raise DndError(f"--model-layers {args.model_layers!r}: expected integers like 15,29") from None
    condition = ConditionSettings(encoder=args.encoder, kind=args.minilm_features, n_prompts=args.n_prompts,
                                  source=getattr(args, "condition", "minilm"), model_layers=layers,
                                  model_prompts=getattr(args, "model_prompts", 8),
                                  encoder_max_tokens=args.encoder_max_tokens)
    head, reference = None, "none"
    if head_kind == "shared":
        head = HeadSettings(width=getattr(args, "head_width", 64), description=not getattr(args, "no_descriptions", False),
                            top_layers=getattr(args, "top_layers", 0))
        reference = getattr(args, "reference", "auto")
        if reference == "auto":
            reference = "zoo-mean" if getattr(args, "zoo", None) else "none"
    elif getattr(args, "reference", "auto") not in ("auto", "none"):
        raise DndError(f"--reference {args.reference}: only the shared head (--head shared) is residual")
    if train.one_pass and not (head and head.top_layers):
        raise DndError("--one-pass: only with --top-layers N (the cached-lower-layers functional loss)")
    return GeneratorConfig(condition=condition, decoder=decoder, train=train, chunk=args.chunk,
                           head=head, reference=reference)


def run(args) -> int:
    from dnd.artifacts import check_output
    from dnd.generator.train import train_generator

    check_output(args.out, "--out", "generator")  # before any training: a file, another artifact, unwritable

    from dnd.lora.settings import LoraSettings

    tasks = parse_list(args.tasks) or None
    if tasks and not args.zoo:  # registry tasks or suites
        from dnd.tasks.registry import resolve_tasks

        tasks = tuple(t.name for t in resolve_tasks(args.tasks))
    saved = train_generator(args.zoo, args.out, config_from_args(args), holdout=parse_list(args.holdout),
                            tasks=tasks, base_model=args.base_model,
                            lora=LoraSettings(r=args.rank, lora_alpha=args.alpha), max_time=args.max_time)
    steps, done = saved["config"]["train"]["steps"], saved.get("steps_done")
    early = f", stopped by --max-time at step {done} of {steps}" if done is not None and done < steps else ""
    print(f"generator {args.out}: trained on {', '.join(saved['tasks'])}"
          f"{' (held out: ' + ', '.join(saved['holdout']) + ')' if saved['holdout'] else ''}; "
          f"{saved['parameters']:,} parameters, final loss {saved['final_loss']:.4f}, {saved['train_time_s']} s{early}")
    return 0
