"""llama.cpp against transformers on the default model, with a generated adapter as a GGUF
LoRA: greedy agreement on 20 eval-pool prompts (5 each of boolq, sst2, arc_e, piqa;
12 new tokens), the next-token logits' agreement, and decoding speed.

    PYTHONPATH=src python benchmarks/bench_llamacpp.py [--threads 1]

llama.cpp runs the packaged Q4_1 weights (its CPU kernels round activations to 8 bits for
the quantized dot products) and the LoRA in f16; transformers runs the same weights
dequantized to fp32 and the LoRA in fp32 (PEFT).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dnd.assets import load_base_model
from dnd.generator.generate import Generator
from dnd.llamacpp.export import export_gguf
from dnd.llamacpp.runtime import base_gguf, greedy, last_logits, load_llama
from dnd.tasks.registry import load_pools
from dnd.lora.prompt import end_of_turn_id, format_prompt

N_NEW = 12


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from peft import PeftModel

    model, tok = load_base_model()
    stop = sorted({end_of_turn_id(tok), tok.eos_token_id})
    with tempfile.TemporaryDirectory() as d:
        gen = Generator.from_pretrained()
        train, _ = load_pools("boolq")
        adapter = Path(d) / "boolq"
        gen.save_adapter(gen.generate([it.prompt for it in train[:32]]), adapter)
        t0 = time.perf_counter()
        gguf = export_gguf(adapter)
        print(f"export: {time.perf_counter() - t0:.2f} s, {gguf.stat().st_size / 1e6:.1f} MB (f16)")
        prompts = []
        for task in ("boolq", "sst2", "arc_e", "piqa"):
            prompts += [tok(format_prompt(tok, it.prompt), add_special_tokens=False)["input_ids"][-400:]
                        for it in load_pools(task)[1][:5]]
        peft = PeftModel.from_pretrained(model, str(adapter)).eval()
        t0 = time.perf_counter()
        cpp_base, cpp_lora = load_llama(base_gguf(), n_threads=args.threads), load_llama(base_gguf(), lora=gguf, n_threads=args.threads)
        print(f"llama.cpp load (base + base with LoRA): {time.perf_counter() - t0:.2f} s")

        def hf(ids, use_lora):
            x = torch.tensor([ids])
            ctx = peft.disable_adapter() if not use_lora else torch.inference_mode()
            with ctx, torch.inference_mode():
                return peft.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=N_NEW,
                                     do_sample=False, temperature=None, top_p=None, top_k=None, eos_token_id=stop,
                                     pad_token_id=stop[0])[0, len(ids):].tolist()

        rows = {}
        for name, llm, use in (("base", cpp_base, False), ("adapter", cpp_lora, True)):
            t0 = time.perf_counter()
            c = [greedy(llm, ids, N_NEW, stop) for ids in prompts]
            tc = time.perf_counter() - t0
            t0 = time.perf_counter()
            h = [hf(ids, use) for ids in prompts]
            th = time.perf_counter() - t0
            rows[name] = c
            same = sum(a == b for a, b in zip(c, h))
            first = sum(a[:1] == b[:1] for a, b in zip(c, h))
            print(f"{name:8} greedy answers identical {same}/20, first tokens {first}/20; "
                  f"time llama.cpp {tc:.1f} s, transformers fp32 {th:.1f} s "
                  f"({sum(map(len, c))} / {sum(map(len, h))} tokens)")
        print(f"the adapter changes {sum(a != b for a, b in zip(rows['base'], rows['adapter']))}/20 llama.cpp answers")
        lb = load_llama(base_gguf(), logits_all=True)
        ll = load_llama(base_gguf(), lora=gguf, logits_all=True)
        cb, cd = [], []
        for ids in prompts:
            x = torch.tensor([ids])
            with torch.inference_mode():
                hl = peft(input_ids=x).logits[0, -1].numpy()
                with peft.disable_adapter():
                    hb = peft(input_ids=x).logits[0, -1].numpy()
            a, b = last_logits(lb, ids), last_logits(ll, ids)
            cb.append(np.corrcoef(a, hb)[0, 1])
            cd.append(np.corrcoef(b - a, hl - hb)[0, 1])
        print(f"next-token logits, correlation llama.cpp vs transformers: base {np.min(cb):.4f} (min over 20); "
              f"adapter's shift {np.min(cd):.4f} (min), {np.mean(cd):.4f} (mean)")
        ids = prompts[0]
        t0 = time.perf_counter()
        n = len(greedy(cpp_base, ids[:16], 64, []))
        print(f"llama.cpp decode: {n / (time.perf_counter() - t0):.0f} tokens/s ({args.threads} thread)")


if __name__ == "__main__":
    main()
