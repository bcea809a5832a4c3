"""Encoding N prompts is most of DnD's generation time on a CPU. How does it scale with
the number of word pieces the encoder reads per prompt, and how far does truncation move
the condition? Prints figures only.

    .venv/bin/python benchmarks/bench_encoder.py [--tasks rte,boolq,arc_e] [--n 128] [--repeats 5]

Per task and limit: median encode time of N train-pool prompts, the prompts' median length
in word pieces, and the cosine between the mean pooled embedding with and without the limit
(1.0 = the condition is unchanged on average).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer

from dnd.assets import resolve_encoder
from dnd.generator.condition import ConditionEncoder, ConditionSettings
from dnd.tasks.registry import load_pools


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="rte,boolq,arc_e")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--limits", default="256,128,64,32", help="encoder_max_tokens values (256 = MiniLM's own)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    limits = [int(x) for x in args.limits.split(",")]
    encoders = {m: ConditionEncoder(ConditionSettings(encoder_max_tokens=m)) for m in limits}
    encoders[limits[0]].features(["warm-up"])  # loads the encoder once; not timed
    tok = Tokenizer.from_file(str(Path(resolve_encoder()) / "tokenizer.json"))  # MiniLM's word pieces
    tok.no_truncation()  # the file's own settings truncate and pad to 128
    tok.no_padding()
    print(f"torch threads {torch.get_num_threads()}, N = {args.n} prompts, {args.repeats} repeats")
    print(f"{'task':<12}{'pieces (median)':>16}{'limit':>7}{'encode s':>10}{'cos to full':>13}")
    for task in args.tasks.split(","):
        prompts = [it.prompt for it in load_pools(task)[0][: args.n]]
        pieces = statistics.median(len(tok.encode(p).ids) for p in prompts)
        reference = None
        for m in limits:
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                feats = encoders[m].features(prompts)
                times.append(time.perf_counter() - t)
            mean = feats.flatten(1).mean(0)
            reference = mean if reference is None else reference
            cos = float(torch.nn.functional.cosine_similarity(mean, reference, dim=0))
            print(f"{task:<12}{pieces:>16.0f}{m:>7}{statistics.median(times):>10.3f}{cos:>13.4f}")


if __name__ == "__main__":
    main()
