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
        help="train the prompt-to-LoRA generator on a zoo (stage 2)",
        description="Each step pairs a random checkpoint of a zoo task with a fresh random sample of "
        "N prompts from that task's train pool; MSE on the normalized LoRA tokens. Held-out tasks are "
        "never seen. Rerunning a killed run resumes it from its last saved state.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--zoo", required=True, metavar="ZOO_DIR")
    p.add_argument("--out", required=True, metavar="GEN_DIR")
    p.add_argument("--holdout", default="", help="comma-separated tasks to leave out")
    p.add_argument("--tasks", default="", help="comma-separated zoo tasks to train on (default: all but --holdout)")
    p.add_argument("--size", choices=("cpu", "paper"), default="cpu", help="decoder size preset")
    p.add_argument("--hidden-channels", default=None, help="decoder stage channels, e.g. 64,64 (overrides --size)")
    p.add_argument("--condition", choices=("pooled", "tokens"), default="pooled",
                   help="pooled sentence embeddings or the paper's token-level hidden states")
    p.add_argument("--n-prompts", type=positive_int, default=128, help="N prompts per condition")
    p.add_argument("--encoder-max-tokens", type=positive_int, default=None,
                   help="word pieces the encoder reads per prompt (default: the encoder's limit; "
                        "lower is faster on a CPU, see benchmarks/bench_encoder.py)")
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--steps", type=positive_int, default=200)
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--weight-decay", type=nonneg_float, default=0.1)
    p.add_argument("--cond-noise", type=nonneg_float, default=1e-4)
    p.add_argument("--target-noise", type=nonneg_float, default=1e-5)
    p.add_argument("--no-token-weighting", action="store_true", help="plain MSE instead of weighting tokens by variability")
    p.add_argument("--n-basis", type=nonneg_int, default=16,
                   help="basis-coefficient head with this many basis adapters (0: the paper's conv output)")
    p.add_argument("--chunk", type=positive_int, default=None, help="LoRA token chunk width (default: inferred)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def parse_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def config_from_args(args):
    from dnd.generator.condition import ConditionSettings
    from dnd.generator.config import DecoderSettings, GeneratorConfig, GenTrainSettings

    for flag in ("n_prompts", "steps", "batch_size"):
        if getattr(args, flag) < 1:
            raise DndError(f"--{flag.replace('_', '-')} must be positive")
    decoder = DecoderSettings.paper() if args.size == "paper" else DecoderSettings()
    decoder = replace(decoder, n_basis=getattr(args, "n_basis", 0) if args.size == "cpu" else 0)
    if args.hidden_channels:
        try:
            decoder = replace(decoder, hidden_channels=tuple(int(c) for c in parse_list(args.hidden_channels)))
        except ValueError:
            raise DndError(f"--hidden-channels {args.hidden_channels!r}: expected integers like 64,64") from None
    train = GenTrainSettings(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                             weight_decay=args.weight_decay, warmup_steps=min(50, args.steps // 10 + 1),
                             cond_noise=args.cond_noise, target_noise=args.target_noise,
                             token_weighting=not args.no_token_weighting, seed=args.seed, device=args.device)
    condition = ConditionSettings(encoder=args.encoder, kind=args.condition, n_prompts=args.n_prompts,
                                  encoder_max_tokens=args.encoder_max_tokens)
    return GeneratorConfig(condition=condition, decoder=decoder, train=train, chunk=args.chunk)


def run(args) -> int:
    from dnd.artifacts import check_output
    from dnd.generator.train import train_generator

    check_output(args.out, "--out", "generator")  # before any training: a file, another artifact, unwritable

    saved = train_generator(args.zoo, args.out, config_from_args(args),
                            holdout=parse_list(args.holdout), tasks=parse_list(args.tasks) or None)
    print(f"generator {args.out}: trained on {', '.join(saved['tasks'])}"
          f"{' (held out: ' + ', '.join(saved['holdout']) + ')' if saved['holdout'] else ''}; "
          f"{saved['parameters']:,} parameters, final loss {saved['final_loss']:.4f}, {saved['train_time_s']} s")
    return 0
