"""`dnd serve`: the drag-and-drop page and an OpenAI-compatible multi-tenant server."""

from __future__ import annotations

import argparse

from dnd.cli.args import nonneg_float, positive_float, positive_int
from dnd.errors import DndError

DEFAULT_ENGINE = "llamacpp"  # the faster here (benchmarks/bench_serve.py, README "Serving")


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the drag-and-drop page and an OpenAI-compatible API (one base model, an adapter per tenant)",
        description="One process holds the base model and the generator. Drop a prompts file on the page "
        "(or POST /v1/adapters) to generate an adapter; chat with it through the page or any OpenAI client "
        "(/v1/chat/completions, /v1/completions, model = the adapter id or 'base'). Adapters are plain PEFT "
        "directories under --data and survive a restart. No authentication: it binds to localhost unless told.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--generator", default=None, metavar="GEN_DIR",
                   help="a trained generator (dnd train); default: the shipped one (dnd.generator.pretrained)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=positive_int, default=8000)
    p.add_argument("--data", default=None, metavar="DIR",
                   help="where adapters and the task index live (default: DND_CACHE/serve, i.e. ~/.cache/dnd/serve)")
    p.add_argument("--device", default="cpu")
    e = p.add_argument_group("engine")
    e.add_argument("--engine", default=DEFAULT_ENGINE, choices=("llamacpp", "transformers"),
                   help="llamacpp: llama.cpp on the packaged GGUF base model, each adapter as a GGUF LoRA "
                   "(converted once, kept beside its PEFT directory); transformers: PEFT on the fp32 model")
    e.add_argument("--max-batch", type=positive_int, default=1,
                   help="transformers: greedy requests decoded together in one batch, any mix of adapters "
                   "(1: one at a time; batching was slower on the serve benchmark here, docs/benchmarks.md)")
    e.add_argument("--llama-workers", type=positive_int, default=2, help="llamacpp: requests decoded at once")
    e.add_argument("--llama-threads", type=positive_int, default=1, help="llamacpp: threads per request")
    e.add_argument("--llama-weights", default="f16", choices=("f16", "q8_0", "q4_1"),
                   help="llamacpp: the packaged Q4_1 weights stored as f16 (made once, cached; prompts "
                   "evaluate faster) or used as packaged")
    e.add_argument("--resident-adapters", type=positive_int, default=8,
                   help="llamacpp: GGUF LoRAs kept loaded per worker (least recently used out)")
    g = p.add_argument_group("limits")
    g.add_argument("--max-body-bytes", type=positive_int, default=4 * 1024 * 1024, help="request body (uploads included)")
    g.add_argument("--max-prompts", type=positive_int, default=2048, help="prompts in one adapter request")
    g.add_argument("--max-prompt-chars", type=positive_int, default=8000, help="characters of one prompt")
    g.add_argument("--max-new-tokens", type=positive_int, default=512, help="generation length cap (max_tokens)")
    g.add_argument("--default-new-tokens", type=positive_int, default=128, help="when a request gives no max_tokens")
    g.add_argument("--max-input-tokens", type=positive_int, default=2048, help="tokens of one chat/completion prompt")
    g.add_argument("--request-timeout", type=positive_float, default=120.0,
                   help="seconds for one request, queueing included")
    g.add_argument("--max-queue", type=positive_int, default=256, help="generation requests waiting at once (more: 503)")
    p.add_argument("--far-threshold", type=nonneg_float, default=0.5,
                   help="cosine below which even the nearest training task is 'far' (out-of-domain warning)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def settings_from_args(args):
    from dnd.assets import cache_dir
    from dnd.generator.pretrained import resolve
    from dnd.serving.config import ServeLimits, ServeSettings

    if args.default_new_tokens > args.max_new_tokens:
        raise DndError(f"--default-new-tokens {args.default_new_tokens} exceeds --max-new-tokens {args.max_new_tokens}")
    if args.port > 65535:
        raise DndError(f"--port {args.port}: expected at most 65535")
    limits = ServeLimits(
        max_body_bytes=args.max_body_bytes, max_prompts=args.max_prompts, max_prompt_chars=args.max_prompt_chars,
        max_new_tokens=args.max_new_tokens, default_new_tokens=args.default_new_tokens,
        max_input_tokens=args.max_input_tokens, request_timeout_s=args.request_timeout, max_queue=args.max_queue,
    )
    return ServeSettings(generator=str(resolve(args.generator)), data=args.data or str(cache_dir() / "serve"),
                         host=args.host, port=args.port, device=args.device, far_threshold=args.far_threshold,
                         limits=limits, engine=args.engine, max_batch=args.max_batch,
                         llama_workers=args.llama_workers, llama_threads=args.llama_threads,
                         resident_adapters=args.resident_adapters, llama_weights=args.llama_weights)


def run(args) -> int:
    import time

    from dnd.cli.main import paused_gc

    settings = settings_from_args(args)
    check_port(settings.host, settings.port)
    t0 = time.perf_counter()
    with paused_gc():  # start-up: imports and model loading (serving itself runs with the collector on)
        import uvicorn

        from dnd.serving.app import Services, create_app

        svc = Services(settings)
        app = create_app(svc)
    n = len(svc.store.list())
    print(f"dnd serve: engine {settings.engine}, base model {svc.base_name}, generator {settings.generator} "
          f"(tasks: {', '.join(svc.index.tasks) or 'none'}), {n} adapters in {settings.data}; "
          f"loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"dnd serve: warning: listening on {settings.host} with no authentication", flush=True)
    print(f"dnd serve: open http://{settings.host}:{settings.port}/  (OpenAI base_url "
          f"http://{settings.host}:{settings.port}/v1)", flush=True)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level)
    finally:
        svc.close()
    return 0


def check_port(host: str, port: int) -> None:
    """A one-line error now, rather than uvicorn's log line after the models are loaded."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise DndError(f"--host {host}: cannot resolve ({e.strerror or e})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise DndError(f"--port {port}: cannot listen on {host} ({e.strerror or e})") from None
