"""Load on `dnd serve`: K adapters (one per task, from its train-pool prompts), then R chat
requests at once spread round-robin over them, each asking an eval-pool prompt of its
adapter's task. Prints adapter generation times, errors, p50/p95 latency and throughput;
then asks the same questions again one at a time and counts answers that differ from the
concurrent ones (tenant isolation on the real model: must be 0). Bounded: every request has
a timeout and the whole run a deadline; it sends traffic to localhost only.

Without --url it starts one `dnd serve` per engine itself (a shared data directory, so the
adapters are generated once), runs the same load on each and prints one table:

    PYTHONPATH=src python benchmarks/bench_serve.py [--engines llamacpp,transformers,serial]
    # llamacpp: --engine llamacpp (2 workers x 1 thread); transformers: --engine transformers
    # (--max-batch 8); serial: --engine transformers --max-batch 1 (one request at a time,
    # the engine of earlier versions)

With --url it loads a server already running:

    .venv/bin/dnd serve --generator GEN_DIR --port 8777 &
    .venv/bin/python benchmarks/bench_serve.py --url http://127.0.0.1:8777 [--tasks sst2,boolq,rte,arc_e,piqa]
        [--requests 50] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor, wait
from urllib.parse import urlparse

import httpx2 as httpx

from dnd.tasks.registry import load_pools


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


ENGINES = {
    "llamacpp": ["--engine", "llamacpp"],
    "llamacpp-1x2": ["--engine", "llamacpp", "--llama-workers", "1", "--llama-threads", "2"],
    "llamacpp-q4_1": ["--engine", "llamacpp", "--llama-weights", "q4_1"],
    "llamacpp-q8_0": ["--engine", "llamacpp", "--llama-weights", "q8_0"],
    "transformers": ["--engine", "transformers", "--max-batch", "8"],
    "serial": ["--engine", "transformers", "--max-batch", "1"],
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=None, help="a running server; default: start one per --engines")
    ap.add_argument("--engines", default="llamacpp,transformers,serial", help=f"of {', '.join(ENGINES)}")
    ap.add_argument("--data", default=None, help="the servers' data directory (default: a temporary one)")
    ap.add_argument("--tasks", default="sst2,boolq,rte,arc_e,piqa", help="one adapter per task")
    ap.add_argument("--prompts", type=int, default=128, help="train-pool prompts per adapter")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    ap.add_argument("--deadline", type=float, default=900.0, help="seconds for the whole load phase")
    ap.add_argument("--no-check", action="store_true", help="skip the sequential re-ask")
    args = ap.parse_args()
    if args.url is None:
        return run_engines(args)
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("bench_serve.py: --url must be a localhost address")
    summary = load(args.url, args)
    return 0 if not summary["errors"] and not summary.get("isolation_mismatches") else 1


def run_engines(args) -> int:
    """One `dnd serve` subprocess per engine, the same load on each, one table."""
    import os
    import socket
    import subprocess
    import tempfile

    names = [e.strip() for e in args.engines.split(",") if e.strip()]
    bad = [e for e in names if e not in ENGINES]
    if bad:
        sys.exit(f"bench_serve.py: --engines {bad[0]}: expected some of {', '.join(ENGINES)}")
    data = args.data or tempfile.mkdtemp(prefix="bench_serve.")
    rows = {}
    for name in names:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        cmd = [sys.executable, "-m", "dnd.cli", "serve", "--port", str(port), "--data", data,
               "--log-level", "warning", *ENGINES[name]]
        print(f"\n=== {name}: {' '.join(cmd[2:])}", flush=True)
        proc = subprocess.Popen(cmd, env={**os.environ, "TQDM_DISABLE": "1"})
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while True:
                try:
                    if httpx.get(f"{url}/v1/server", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"bench_serve.py: the {name} server did not start")
                time.sleep(0.5)
            rows[name] = load(url, args)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"\n{args.requests} concurrent chats over {len(args.tasks.split(','))} adapters, "
          f"max_tokens {args.max_tokens}, {os.cpu_count()} CPUs\n")
    print("| engine | errors | p50 s | p95 s | requests/s | completion tokens/s | isolation mismatches |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['errors']} | {r['p50_s']} | {r['p95_s']} | {r['requests_per_s']} | "
              f"{r['completion_tokens_per_s']} | {r.get('isolation_mismatches', '-')} |")
    print(json.dumps(rows))
    return 0 if all(not r["errors"] and not r.get("isolation_mismatches") for r in rows.values()) else 1


def load(url: str, args) -> dict:
    """The load of the module docstring on the server at `url`; its summary."""
    client = httpx.Client(base_url=url, timeout=args.timeout)
    server = client.get("/v1/server").json()
    print(f"server: base model {server['base_model']}, generator {server['generator']} "
          f"(trained on {', '.join(server['generator_tasks'])})")

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    adapters, questions = {}, {}
    print(f"\n{'task':12} {'adapter':26} {'generate s':>10} {'request s':>9} {'nearest (cosine)':>24}")
    for task in tasks:
        train, evals = load_pools(task)
        r = client.post("/v1/adapters", json={"prompts": [it.prompt for it in train[: args.prompts]], "name": task})
        r.raise_for_status()
        a = r.json()
        adapters[task], questions[task] = a["id"], [it.prompt for it in evals]
        near = f"{a['nearest'][0]['task']} ({a['nearest'][0]['similarity']:.2f})" if a["nearest"] else "-"
        gen_s = "cached" if a["cached"] else f"{a['timings']['generate_s']:.2f}"
        print(f"{task:12} {a['id']:26} {gen_s:>10} {a['request_s']:>9.2f} {near:>24}")

    def one(i: int) -> tuple[bool, float, int, str, str | None]:
        task = tasks[i % len(tasks)]
        body = {"model": adapters[task], "max_tokens": args.max_tokens,
                "messages": [{"role": "user", "content": questions[task][i // len(tasks)]}]}
        t0 = time.perf_counter()
        try:
            r = client.post("/v1/chat/completions", json=body)
            ok = r.status_code == 200
            tokens = r.json()["usage"]["completion_tokens"] if ok else 0
            answer = r.json()["choices"][0]["message"]["content"] if ok else None
            note = "" if ok else f"{r.status_code} {r.text[:120]}"
        except httpx.HTTPError as e:
            ok, tokens, note, answer = False, 0, repr(e)[:120], None
        return ok, time.perf_counter() - t0, tokens, note, answer

    print(f"\n{args.requests} concurrent chat requests across {len(tasks)} adapters, max_tokens {args.max_tokens}")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.requests) as pool:
        futures = [pool.submit(one, i) for i in range(args.requests)]
        done, pending = wait(futures, timeout=args.deadline)
        for f in pending:
            f.cancel()
    wall = time.perf_counter() - t0
    results = [f.result() for f in futures if f in done]
    lat = [r[1] for r in results if r[0]]
    errors = [r[3] for r in results if not r[0]] + ["deadline"] * len(pending)
    tokens = sum(r[2] for r in results)
    summary = {
        "requests": args.requests, "adapters": len(tasks), "errors": len(errors), "wall_s": round(wall, 2),
        "p50_s": round(statistics.median(lat), 2) if lat else None,
        "p95_s": round(percentile(lat, 0.95), 2) if lat else None,
        "max_s": round(max(lat), 2) if lat else None,
        "requests_per_s": round(len(lat) / wall, 3), "completion_tokens_per_s": round(tokens / wall, 1),
        "mean_completion_tokens": round(tokens / max(1, len(lat)), 1),
    }
    if not args.no_check and not pending:
        again = [one(i)[4] for i in range(args.requests)]  # one at a time: single-tenant answers
        summary["isolation_mismatches"] = sum(a != r[4] for a, r in zip(again, results) if r[0])
    for k, v in summary.items():
        print(f"{k:24} {v}")
    for e in errors[:5]:
        print(f"error: {e}")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    sys.exit(main())
