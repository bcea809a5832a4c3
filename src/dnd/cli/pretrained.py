"""Making a trained generator the shipped default (dnd.generator.pretrained): a maintainer's
command, not a `dnd` subcommand. It rewrites the weights, the manifest and MODEL_CARD.md,
keeping the card's hand-written part below HAND_WRITTEN:

    python -m dnd.cli.pretrained export GEN_DIR [--dst DIR] [--dtype bf16|fp16|fp32]
                                        [--reference-dtype bf16|fp16|fp32] [--no-task-index]

It sits on the top floor because it uses every other: the generator, the demo's tasks (its
check), dnd serve's nearest-task index (shipped with the generator) and the CLI's parser.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from dnd.artifacts import check_generator_dir, check_output, load_safetensors, read_json_file
from dnd.cli.args import OneLineParser
from dnd.errors import DndError
from dnd.evaluation.demo_unseen import demo_tasks
from dnd.fileio import atomic_dir, portable_path, save_safetensors, sha256_file, write_json, write_text
from dnd.generator import config as C
from dnd.generator.generate import Generator
from dnd.generator.pretrained import ENV, PRETRAINED_DIR, default_dir
from dnd.serving.config import ServeSettings
from dnd.serving.nearest import SHIPPED, TaskIndex
from dnd.tasks.registry import TASKS, load_pools

JSON_FILES = (C.CONFIG, C.LAYOUT, C.LOSSES)
TENSOR_FILES = (C.WEIGHTS, C.REFERENCE)  # the reference only in residual generators
MODEL_CARD = "MODEL_CARD.md"  # not in the manifest: the lead edits its hand-written part
HAND_WRITTEN = "<!-- hand-written below this line: kept when the generator is exported again -->"
DTYPES = ("bf16", "fp16", "fp32")
MAX_BYTES = 25 * 10**6  # the size limit for the shipped directory


def _dtype(name: str):
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def _write_tensors(src: Path, dst: Path, dtype: str) -> None:
    """Copy a safetensors file with its floating-point tensors stored as `dtype`."""
    tensors = load_safetensors(src)
    want = _dtype(dtype)
    save_safetensors(dst, {k: v.to(want) if v.is_floating_point() else v for k, v in tensors.items()},
                     metadata={"format": "pt", "dnd_dtype": dtype})


def export_pretrained(src_gen_dir: str | os.PathLike, dst_dir: str | os.PathLike | None = None,
                      dtype: str = "bf16", check: bool = True, reference_dtype: str | None = None,
                      task_index: bool = True) -> dict:
    """Copy a trained generator directory to `dst_dir` (default: `default_dir()`) with its
    float tensors stored as `dtype` (the residual reference's as `reference_dtype`, default
    `dtype`: fp32 keeps the multi-task LoRA bit-exact), a fresh manifest (sha256 per file, which
    `Generator.from_pretrained` verifies) and MODEL_CARD.md; atomically. With `check`, the
    adapters the copy generates from the demo tasks' prompts are compared with the source's;
    with `task_index`, dnd serve's nearest-task means are built and shipped too.
    Returns {"files": {name: bytes}, "bytes": total, "check": {...} or None}."""
    reference_dtype = reference_dtype or dtype
    for flag, value in (("--dtype", dtype), ("--reference-dtype", reference_dtype)):
        if value not in DTYPES:
            raise DndError(f"{flag} {value}: expected one of {', '.join(DTYPES)}")
    src = Path(src_gen_dir)
    dst = Path(dst_dir) if dst_dir is not None else default_dir()
    check_generator_dir(src, flag="GEN_DIR", verify=True)
    if src.resolve() == dst.resolve():
        raise DndError(f"--dst {dst}: is the source generator itself; export to another directory")
    check_output(dst, "--dst", "generator", replaces=True)
    saved = read_json_file(src / C.CONFIG)
    kept = _hand_written(dst / MODEL_CARD)
    result: dict = {}

    def build(tmp: Path) -> None:
        files = [name for name in (*TENSOR_FILES, *JSON_FILES) if (src / name).exists()]
        for name in files:
            if name.endswith(".safetensors"):
                _write_tensors(src / name, tmp / name, reference_dtype if name == C.REFERENCE else dtype)
            elif name == C.CONFIG:
                write_json(tmp / name, shipped_config(saved))
            else:
                shutil.copyfile(src / name, tmp / name)
        if task_index:
            files.append(write_task_index(src, tmp))
        write_json(tmp / C.MANIFEST, {name: sha256_file(tmp / name) for name in files})
        sizes = {name: (tmp / name).stat().st_size for name in (*files, C.MANIFEST)}
        result.update(files=sizes, bytes=sum(sizes.values()), dtype=dtype, reference_dtype=reference_dtype,
                      check=compare_generators(src, tmp) if check else None)
        write_text(tmp / MODEL_CARD, model_card(shipped_config(saved), result, kept,
                                                losses=read_json_file(src / C.LOSSES),
                                                source=portable_path(src.resolve(), strict=True)))
        for path in (tmp, *tmp.iterdir()):  # readable by all, like the rest of the package
            path.chmod(0o755 if path.is_dir() else 0o644)

    atomic_dir(dst, build)
    if result["bytes"] > MAX_BYTES:
        print(f"warning: {dst} holds {result['bytes'] / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit",
              file=sys.stderr)
    return result


def shipped_config(saved: dict) -> dict:
    """The generator config as shipped: every recorded path ("zoo", "reference", the config's
    "reference") relative to the working directory or reduced to its name, never absolute
    (a shipped file must not carry the exporting machine's layout). The base model's name is
    kept: adapters and `dnd serve` load the model by it (the shipped one is a package alias)."""
    out = {**saved, "config": dict(saved["config"])}
    for d, key in ((out, "zoo"), (out, "reference"), (out["config"], "reference")):
        if isinstance(d.get(key), str):
            d[key] = portable_path(d[key], strict=True)
    return out


def write_task_index(gen_dir: Path, dst_dir: Path) -> str:
    """dnd serve's nearest-task means of the generator's training tasks (dnd.serving.nearest,
    serve's default sizes) into `dst_dir`, so that a first `dnd serve` need not embed every
    training task's prompts; returns the file's name."""
    sizes = ServeSettings(generator=str(gen_dir), data="")
    with tempfile.TemporaryDirectory() as work:
        index = TaskIndex(Generator.from_pretrained(gen_dir), work, "export", sizes.task_index_prompts,
                          sizes.note_max_tokens)
        shutil.copyfile(index.path, dst_dir / SHIPPED)
    return SHIPPED


def compare_generators(reference_dir: Path, other_dir: Path, n_prompts: int = 32) -> dict:
    """Relative error of the weight deltas (s B A, every adapted module) that `other_dir`
    generates against those of `reference_dir`, from the first `n_prompts` train-pool
    prompts of each demo task (dnd.evaluation.demo_unseen.demo_tasks), seed 0."""
    want, got = Generator.from_pretrained(reference_dir), Generator.from_pretrained(other_dir)
    scale = want.lora.lora_alpha / want.lora.r
    out = {}
    for task in demo_tasks():
        prompts = [it.prompt for it in load_pools(task)[0][:n_prompts]]
        a, b = want.generate(prompts), got.generate(prompts)
        num = den = 0.0
        for key in a:
            if ".lora_A." not in key:
                continue
            key_b = key.replace(".lora_A.", ".lora_B.")
            dw = scale * a[key_b] @ a[key]  # (out, in)
            num += float(torch.sum((scale * b[key_b] @ b[key] - dw) ** 2))
            den += float(torch.sum(dw ** 2))
        out[task] = (num / max(den, 1e-30)) ** 0.5
    return out


def _hand_written(card: Path) -> str:
    """The hand-written tail of an existing model card (from HAND_WRITTEN on), or a template."""
    if card.is_file():
        text = card.read_text(encoding="utf-8")
        if HAND_WRITTEN in text:
            return text[text.index(HAND_WRITTEN):]
    return "\n".join([
        HAND_WRITTEN, "",
        "## Rebuild (seeded)", "", "TO FILL: the exact commands (training, then export).", "",
        "## Results on the unseen suite", "", "TO FILL: the committed table and the command that made it.", "",
        "## Limits", "", "TO FILL.", "",
    ])


def _by_domain(tasks: list[str]) -> dict[str, list[str]]:
    """{domain: tasks}, the largest domain first (registry domains; "unknown" for others)."""
    groups: dict[str, list[str]] = {}
    for t in tasks:
        groups.setdefault(TASKS[t].domain if t in TASKS else "unknown", []).append(t)
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def _loss_line(losses: object) -> str:
    if not isinstance(losses, list) or not losses:
        return "not recorded"
    k = max(1, len(losses) // 10)
    return f"mean of the first {k} steps {sum(losses[:k]) / k:.4f}, of the last {k} {sum(losses[-k:]) / k:.4f}"


def model_card(saved: dict, export: dict, hand_written: str, losses: object = None, source: str = "") -> str:
    """MODEL_CARD.md: the generated part from the generator's config, its losses and the
    export, then the hand-written part."""
    cfg = C.GeneratorConfig.from_json(saved["config"])
    train, cond = cfg.train, cfg.condition
    ref_lora, written = saved.get("reference_lora"), saved.get("adapter_lora", saved["lora"])
    params, domains = saved.get("parameters"), _by_domain(saved["tasks"])
    lines = [
        f"# dnd shipped generator: {saved['base_model']['name']}", "",
        "Generated from the generator's own files by `python -m dnd.cli.pretrained export`; "
        "everything above the hand-written marker is rewritten by each export.", "",
        "| | |", "|---|---|",
        f"| base model | `{saved['base_model']['name']}` (weights sha256 `{saved['base_model']['weights_sha256'][:16]}`) |",
        f"| objective | {saved.get('objective', train.objective)} |",
        f"| head | {saved.get('head', cfg.head_kind)}"
        + (f" (width {cfg.head.width}, reads task descriptions: {bool(saved.get('desc_dim'))})" if cfg.head else "")
        + " |",
        f"| parameters | {params:,} |" if isinstance(params, int) else "| parameters | not recorded |",
        f"| condition | {cond.n_prompts} prompts, {cond.kind} `{cond.encoder}` embeddings |",
        f"| training tasks | {len(saved['tasks'])} ({', '.join(f'{d} {len(ts)}' for d, ts in domains.items())}) |",
        f"| held out | {', '.join(saved.get('holdout') or []) or 'none'} |",
        f"| training | {train.steps} steps x {train.batch_size} conditions, lr {train.lr:g}, seed {train.seed}, "
        f"{train.precision} base model; {saved.get('train_time_s', '?')} s |",
        f"| training loss | {_loss_line(losses)} |",
        f"| reference (residual) | {saved.get('reference', 'none')}"
        + (f" (r {ref_lora['r']}, lora_alpha {ref_lora['lora_alpha']})" if ref_lora else "") + " |",
        f"| written adapter | r {written['r']}, lora_alpha {written['lora_alpha']}, "
        f"{', '.join(written['target_modules'])} |",
        f"| stored as | {export['dtype']} safetensors (reference: {export['reference_dtype']}), "
        f"{export['bytes'] / 1e6:.1f} MB on disk |",
        f"| exported from | `{source}` |" if source else "| exported from | not recorded |", "",
        "## Training tasks", "", *[f"- {d}: {', '.join(ts)}" for d, ts in domains.items()], "",
        "## Files", "", "| file | bytes |", "|---|---|",
        *[f"| {name} | {size:,} |" for name, size in export["files"].items()], "",
        "Checksums: `manifest.json` (verified on every load).", "",
    ]
    if export.get("check"):
        lines += ["## Stored precision", "",
                  f"Relative error of the weight deltas (s B A over every adapted module) generated by the {export['dtype']} "
                  "copy against the source generator, from each demo task's first 32 train-pool prompts:", "",
                  "| task | relative error |", "|---|---|",
                  *[f"| {t} | {err:.2e} |" for t, err in export["check"].items()], ""]
    return "\n".join(lines) + "\n" + hand_written


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m dnd.cli.pretrained",
                           description="Make a trained generator the shipped default.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("export", help="copy GEN_DIR into the package in bf16 with a manifest and a model card")
    p.add_argument("src", metavar="GEN_DIR", help="a finished `dnd train` output")
    p.add_argument("--dst", default=None, metavar="DIR", help=f"default: {PRETRAINED_DIR} (or ${ENV})")
    p.add_argument("--dtype", choices=DTYPES, default="bf16", help="how float tensors are stored")
    p.add_argument("--reference-dtype", choices=DTYPES, default=None,
                   help="how the residual reference (the multi-task LoRA) is stored; default: --dtype")
    p.add_argument("--no-task-index", action="store_true",
                   help="skip building dnd serve's nearest-task index (then a first dnd serve builds it)")
    p.add_argument("--no-check", action="store_true",
                   help="skip comparing the adapters the copy generates with the source's")
    args = parser.parse_args(argv)
    try:
        result = export_pretrained(args.src, args.dst, args.dtype, check=not args.no_check,
                                   reference_dtype=args.reference_dtype, task_index=not args.no_task_index)
    except DndError as e:
        print(f"dnd: error: {e}", file=sys.stderr)
        return e.exit_code
    dst = args.dst or default_dir()
    print(f"exported {args.src} -> {dst}: {result['bytes'] / 1e6:.1f} MB ({args.dtype}, reference "
          f"{result['reference_dtype']})")
    for task, err in (result["check"] or {}).items():
        print(f"  {task}: relative error of the generated weight deltas {err:.2e}")
    print(f"edit the hand-written part of {Path(dst) / MODEL_CARD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
