"""`dnd generate`: prompts in, a PEFT adapter directory out."""

from __future__ import annotations

import time
import warnings

from dnd.cli.args import nonneg_int
from dnd.errors import DndError


def register(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate a LoRA adapter from a file of prompts and/or a task description",
        description="Read prompts from a task file (.txt or .jsonl; labels are ignored) and/or take a short "
        "task description (generators with the shared head), run the generator once and write a standard PEFT adapter directory (adapter_config.json + "
        "adapter_model.safetensors) that PeftModel.from_pretrained loads.",
    )
    p.add_argument("--generator", default=None, metavar="GEN_DIR",
                   help="a trained generator (dnd train); default: the shipped one (dnd.generator.pretrained)")
    p.add_argument("--prompts", default=None, metavar="FILE", help="unlabeled prompts of the task")
    p.add_argument("--description", default=None, metavar="TEXT",
                   help="a short task description, alone or beside --prompts (shared-head generators)")
    p.add_argument("--out", required=True, metavar="ADAPTER_DIR",
                   help="the PEFT adapter directory (with --format gguf: the .gguf file to write)")
    p.add_argument("--format", default="peft", choices=("peft", "gguf", "both"),
                   help="peft: a PEFT directory; gguf: a GGUF LoRA file for llama.cpp (f16); both: the PEFT "
                   "directory with its GGUF beside the safetensors (OUT/adapter_model.gguf)")
    p.add_argument("--base-model", default=None,
                   help="check the generator was built for this base model (default alias, HF id or dir)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="which N prompts are sampled when the file has more")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run, fast_exit=True)  # see dnd.cli.main.main


def run(args) -> int:
    from dnd.cli.main import paused_gc

    with paused_gc():  # one short generation: the collector would only walk torch's objects
        return _run(args)


def _run(args) -> int:
    from dnd.artifacts import check_output
    from dnd.generator.generate import Generator
    from dnd.generator.pretrained import resolve
    from dnd.tasks.items import load_task_file

    t0 = time.perf_counter()
    if not args.prompts and not (args.description or "").strip():
        raise DndError("give --prompts FILE, --description TEXT, or both")
    items = load_task_file(args.prompts) if args.prompts else []
    if args.format == "gguf":
        from dnd.artifacts import check_output_file

        check_output_file(args.out, "--out")
    else:
        check_output(args.out, "--out", "adapter", replaces=True)  # before any work; never over another artifact
    gen = Generator.from_pretrained(args.generator, device=args.device)  # None: the shipped generator
    gen_dir = resolve(args.generator)
    if args.base_model:
        from dnd.assets import base_model_identity

        want = base_model_identity(args.base_model)
        if want.weights_sha256 != gen.base_model["weights_sha256"]:
            raise DndError(f"--base-model {args.base_model}: the generator {gen_dir} was built for "
                           f"{gen.base_model['name']} (weights {gen.base_model['weights_sha256'][:12]}), "
                           f"not this model (weights {want.weights_sha256[:12]})")
    t1 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        timings: dict = {}
        extra = {}
        if gen.reads_model:  # the base model reads the prompts against the task's answer set, if one
            from dnd.generator.model_condition import label_set

            extra["choices"] = label_set(items) if items else None
        state = gen.generate([it.prompt for it in items], seed=args.seed, timings=timings,
                             description=args.description, **extra)
    for w in caught:
        print(f"dnd: warning: {w.message}")
    t2 = time.perf_counter()
    info = {"generator": str(gen_dir), "prompts_file": args.prompts, "n_prompts_given": len(items), "seed": args.seed}
    if args.description:
        info["description"] = args.description
    if args.format == "peft":
        gen.save_adapter(state, args.out, info=info)
    else:
        from dnd.llamacpp.export import save_formats

        save_formats(gen, state, args.out, info, args.format)
    t3 = time.perf_counter()
    source = f"{len(items)} prompts" + (" and a description" if args.description else "") if items else "a description"
    print(f"adapter written to {args.out} from {source} in {t3 - t1:.2f} s "
          f"(encode {timings['encode_s']:.2f} s, decode {timings['decode_s']:.2f} s, write {t3 - t2:.2f} s; "
          f"loading {t1 - t0:.2f} s)")
    return 0
