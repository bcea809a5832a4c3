"""`dnd export-gguf`: a PEFT LoRA adapter directory -> a GGUF LoRA file for llama.cpp / Ollama."""

from __future__ import annotations

import time

from dnd.errors import DndError


def register(sub) -> None:
    p = sub.add_parser(
        "export-gguf",
        help="convert a PEFT LoRA adapter directory to a GGUF LoRA file (llama.cpp, Ollama)",
        description="Write a PEFT LoRA adapter of a supported base model (Llama family, Qwen2) as a GGUF LoRA "
        "file that llama.cpp loads beside the base model's GGUF (llama-cli --lora FILE, "
        "Llama(model_path=..., lora_path=FILE), Ollama's ADAPTER). DoRA, modules_to_save and LoRA biases "
        "have no llama.cpp form and are refused.",
    )
    p.add_argument("adapter", metavar="ADAPTER_DIR", help="a PEFT adapter directory (dnd generate --out)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the .gguf file to write (default: ADAPTER_DIR/adapter_model.gguf)")
    p.add_argument("--outtype", default="f16", choices=("f16", "f32"), help="precision of the LoRA matrices")
    p.add_argument("--base-model", default=None,
                   help="the adapter's base model (default alias or a local directory); default: the one "
                   "its adapter_config.json names")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from dnd.artifacts import check_output_file
    from dnd.llamacpp.export import export_gguf

    t0 = time.perf_counter()
    if not Path(args.adapter).is_dir():
        raise DndError(f"ADAPTER_DIR {args.adapter}: not a directory")
    if args.out is not None:
        check_output_file(args.out, "--out")
    out = export_gguf(args.adapter, args.out, base_model=args.base_model, outtype=args.outtype)
    print(f"GGUF LoRA written to {out} ({out.stat().st_size / 1e6:.1f} MB, {args.outtype}) "
          f"in {time.perf_counter() - t0:.2f} s")
    return 0
