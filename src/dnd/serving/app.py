"""The FastAPI app: one process holds the generator, the base model and every tenant.

    from dnd.serving.app import Services, create_app
    app = create_app(Services(ServeSettings(generator="GEN_DIR", data="DATA_DIR")))
    uvicorn.run(app, host="127.0.0.1", port=8000)

Routes: the page at /, its files under /page/, GET /v1/server, the adapter routes
(adapters_api.py), the OpenAI-compatible routes (openai_api.py) and POST /v1/classify
(classify_api.py). Every error is JSON,
{"error": {"message", "type", "param", "code"}}, with `param` naming the offending field.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from dnd import __version__
from dnd.errors import DndError
from dnd.serving import adapters_api, classify_api, openai_api
from dnd.serving.engines import make_engine
from dnd.serving.config import ServeSettings
from dnd.serving.errors import ApiError, error_body
from dnd.serving.nearest import SHIPPED as SHIPPED_INDEX
from dnd.serving.nearest import TaskIndex
from dnd.serving.tenants import AdapterStore, generator_fingerprint

PAGE_DIR = Path(__file__).parent / "page"


class Services:
    """What the routes share: generator, task index, adapter store, chat engine, prior cache,
    settings."""

    def __init__(self, settings: ServeSettings):
        from dnd.assets import base_model_identity
        from dnd.generator.generate import Generator

        self.settings = settings
        self.generator = Generator.from_pretrained(settings.generator, device=settings.device)
        self.generator_fp = generator_fingerprint(settings.generator)
        self.base_name = self.generator.base_model["name"]
        want = self.generator.base_model["weights_sha256"]
        if base_model_identity(self.base_name).weights_sha256 != want:
            raise DndError(f"--generator {settings.generator}: its base model {self.base_name} has changed "
                           f"(weights no longer match {want[:12]})")
        self.store = AdapterStore(settings.data, want, settings.state_cache)
        self.index = TaskIndex(self.generator, settings.data, self.generator_fp, settings.task_index_prompts,
                               settings.note_max_tokens, shipped=Path(settings.generator) / SHIPPED_INDEX)
        self.engine = make_engine(settings, self.base_name, self.generator.lora, self.store)
        self.priors = classify_api.PriorCache()  # label priors of /v1/classify's calibration
        self.gen_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dnd-generator")
        self.started = time.time()

    def describe(self) -> dict:
        return {
            "version": __version__, "base_model": self.base_name, "generator": str(self.settings.generator),
            "generator_tasks": self.generator.saved.get("tasks", []), "note_tasks": self.index.tasks,
            "n_prompts": self.generator.config.condition.n_prompts, "far_threshold": self.settings.far_threshold,
            "limits": self.settings.limits.to_json(), "adapters": len(self.store.list()),
            "engine": self.settings.engine,
        }

    def close(self) -> None:
        self.engine.shutdown()
        self.gen_worker.shutdown(wait=False, cancel_futures=True)


DRAIN_BYTES = 256 * 1024 * 1024  # an oversized body up to this size is read and dropped before the 413


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets a 413 JSON error before it is
    parsed. Most clients send the whole body before they read the answer, and a server that
    answers and closes with the body unread resets their connection (the 413 is lost): so the
    rest of the body is read and dropped first, up to DRAIN_BYTES. A client that sent
    `Expect: 100-continue` is answered at once, before it sends the body."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    @staticmethod
    def _too_large(message: str) -> JSONResponse:
        return JSONResponse(error_body(413, f"{message} (see --max-body-bytes)", "body"), 413,
                            headers={"Connection": "close"})

    @staticmethod
    async def _drain(receive, seen: int) -> None:
        """Read and drop the rest of the body (uvicorn closes the connection after the 413)."""
        more = True
        while more and seen <= DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            seen += len(message.get("body", b""))
            more = message.get("more_body", False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            # a client that asked first has sent nothing: uvicorn sends it "100 Continue" only if we read
            asked = headers.get(b"expect", b"").lower() == b"100-continue"
            if length.isdigit() and int(length) <= DRAIN_BYTES and not asked:
                await self._drain(receive, 0)
            message = f"body: {length.decode(errors='replace')} bytes, the limit is {self.limit}"
            return await self._too_large(message)(scope, receive, send)
        seen, too_large = 0, False

        async def counted():  # a chunked body has no Content-Length: count what arrives
            nonlocal seen, too_large
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                too_large = True
                if message.get("more_body", False):
                    await self._drain(receive, seen)
                raise ApiError(413, f"body: over the limit of {self.limit} bytes", "body")
            return message

        async def guarded(message):  # the app's own answer to the aborted read is replaced
            if not too_large:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not too_large:  # the aborted read may surface as the app's own error: replaced below
                raise
        if too_large:
            await self._too_large(f"body: over the limit of {self.limit} bytes")(scope, receive, send)


def _param(loc) -> str:
    parts = [p for p in loc if p != "body"] or ["body"]
    out = str(parts[0])
    for p in parts[1:]:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def create_app(svc: Services) -> FastAPI:
    """The ASGI app over already-loaded services."""
    app = FastAPI(title="dnd serve", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.svc = svc
    app.add_middleware(BodyLimit, limit=svc.settings.limits.max_body_bytes)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return JSONResponse(e.body(), e.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        err = e.errors()[0]
        param = _param(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            param = "body"
        return JSONResponse(error_body(400, f"{param}: {err.get('msg', 'invalid')}", param, err.get("type")), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        return JSONResponse(error_body(e.status_code, str(e.detail)), e.status_code, headers=e.headers)

    @app.exception_handler(DndError)
    async def dnd_error(request: Request, e: DndError):
        return JSONResponse(error_body(400, str(e)), 400)

    @app.exception_handler(Exception)
    async def server_error(request: Request, e: Exception):  # a bug: JSON all the same
        return JSONResponse(error_body(500, f"internal error: {type(e).__name__}: {e}"), 500)

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(PAGE_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/v1/server")
    def server():
        return svc.describe()

    app.include_router(adapters_api.router)
    app.include_router(openai_api.router)
    app.include_router(classify_api.router)
    app.mount("/page", StaticFiles(directory=PAGE_DIR), name="page")
    return app
