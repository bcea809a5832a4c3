"""The adapter routes: POST/GET /v1/adapters, GET/PATCH/DELETE /v1/adapters/{id},
GET /v1/adapters/{id}/download.

POST takes JSON: `prompts` (a list of strings) and/or `file` ({"name": "x.jsonl" or
"x.txt", "content": "..."}, read like `dnd generate --prompts`) and/or `description`;
optional `name` (a label for lists), `seed` and `calibrated` (the mark that makes
/v1/classify calibrate by default; PATCH {"calibrated": bool} changes it later). The
answer carries the id, the timings, the nearest training tasks and a `far` flag (the
out-of-domain warning).
"""

from __future__ import annotations

import asyncio
import inspect
import time
import warnings
from pathlib import Path

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dnd.errors import DndError
from dnd.fileio import write_json
from dnd.serving.errors import ApiError
from dnd.serving.tenants import PROMPTS_FILE, adapter_id

router = APIRouter()


class FileUpload(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    content: str


class AdapterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: list[str] | None = None
    file: FileUpload | None = None
    description: str | None = None
    name: str | None = Field(None, max_length=200)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    calibrated: bool | None = None  # mark for /v1/classify; None: as it is (False for a new adapter)


class AdapterPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calibrated: bool


def parse_file(upload: FileUpload) -> list[str]:
    """Prompts of an uploaded .txt (a prompt a line) or .jsonl ({"prompt": ...} a line) file."""
    from dnd.tasks.items import TaskFileError, _parse_row

    suffix = Path(upload.name).suffix.lower()
    lines = upload.content.splitlines()
    if suffix == ".txt":
        return [ln.strip() for ln in lines if ln.strip()]
    if suffix in (".jsonl", ".json"):
        try:
            return [_parse_row(Path(upload.name), n, ln).prompt for n, ln in enumerate(lines, 1) if ln.strip()]
        except TaskFileError as e:
            raise ApiError(400, f"file.content: {e}", "file.content", "invalid_file") from None
    raise ApiError(400, f"file.name: {upload.name!r} has extension {suffix or 'none'!r}, expected .txt or .jsonl",
                   "file.name", "invalid_file")


def validate(req: AdapterRequest, limits) -> tuple[list[str], str | None]:
    """(prompts, description) within the limits, or a 400 naming the field."""
    prompts = [p.strip() for p in (req.prompts or []) if p.strip()]
    if req.file is not None:
        prompts += parse_file(req.file)
    description = (req.description or "").strip() or None
    if not prompts and description is None:
        raise ApiError(400, "prompts: give at least one prompt (prompts, file) or a description", "prompts")
    if len(prompts) > limits.max_prompts:
        raise ApiError(400, f"prompts: {len(prompts)} prompts, the limit is {limits.max_prompts}", "prompts",
                       "too_many_prompts")
    for i, p in enumerate(prompts):
        if len(p) > limits.max_prompt_chars:
            raise ApiError(400, f"prompts[{i}]: {len(p)} characters, the limit is {limits.max_prompt_chars}",
                           f"prompts[{i}]", "prompt_too_long")
    if description and len(description) > limits.max_description_chars:
        raise ApiError(400, f"description: {len(description)} characters, the limit is "
                            f"{limits.max_description_chars}", "description", "description_too_long")
    if req.calibrated and not prompts:
        raise ApiError(400, NO_PROMPTS, "calibrated", "nothing_to_calibrate")
    return prompts, description


NO_PROMPTS = "calibrated: the adapter has no prompts to calibrate from (it was made from a description)"


def _generate(svc, aid: str, prompts: list[str], description: str | None, req: AdapterRequest) -> None:
    """Run the generator and write the adapter directory (on the generator's worker thread)."""
    gen = svc.generator
    if svc.store.exists(aid):  # an identical request finished while this one waited
        return
    # A generator that reads descriptions gets it as a condition; any other one reads it as a
    # prompt when no prompts are given, and it is only recorded otherwise.
    reads = "description" in inspect.signature(gen.generate).parameters and getattr(gen, "reads_description", False)
    kwargs, use, condition_prompts = {}, "recorded", prompts
    if description and reads:
        kwargs["description"], use = description, "condition"
    elif not prompts:
        condition_prompts, use = [description], "prompt"
    t0 = time.perf_counter()
    timings: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            state = gen.generate(condition_prompts, seed=req.seed, timings=timings, **kwargs)
        except DndError as e:
            raise ApiError(400, f"prompts: {e}", "prompts", "generation_failed") from None
    t1 = time.perf_counter()
    nearest = svc.index.nearest(prompts or [description], sample=svc.settings.note_prompts)
    t2 = time.perf_counter()
    far = bool(nearest) and nearest[0]["similarity"] < svc.settings.far_threshold
    info = {
        "id": aid, "name": req.name, "created": time.time(), "n_prompts": len(prompts),
        "description": description, "description_use": use if description else None, "seed": req.seed,
        "calibrated": bool(req.calibrated),
        "generator": svc.generator_fp,
        "timings": {"generate_s": round(t1 - t0, 4), "note_s": round(t2 - t1, 4),
                    **{k: round(v, 4) for k, v in timings.items()}},
        "nearest": nearest, "far": far, "warnings": [str(w.message) for w in caught],
    }

    def build(tmp: Path) -> None:
        gen.save_adapter(state, tmp, info=info)  # replaces tmp atomically with the PEFT directory
        write_json(tmp / PROMPTS_FILE, {"prompts": prompts, "description": description})

    svc.store.create(aid, build)


@router.post("/v1/adapters")
async def create_adapter(req: AdapterRequest, request: Request):
    svc = request.app.state.svc
    prompts, description = validate(req, svc.settings.limits)
    aid = adapter_id(svc.generator_fp, prompts, description, req.seed)
    t0 = time.perf_counter()
    cached = svc.store.exists(aid)
    if not cached:
        fut = svc.gen_worker.submit(_generate, svc, aid, prompts, description, req)
        try:
            await asyncio.wait_for(asyncio.wrap_future(fut), svc.settings.limits.request_timeout_s)
        except TimeoutError:
            raise ApiError(503, "adapter generation timed out (see --request-timeout)", None, "timeout") from None
    out = svc.store.info(aid)
    if req.calibrated is not None and out["calibrated"] != req.calibrated:  # a cached adapter re-marked
        out = svc.store.set_calibrated(aid, req.calibrated)
    return {**out, "cached": cached, "request_s": round(time.perf_counter() - t0, 4),
            "far_threshold": svc.settings.far_threshold}


@router.get("/v1/adapters")
def list_adapters(request: Request):
    return {"object": "list", "data": request.app.state.svc.store.list()}


@router.get("/v1/adapters/{aid}")
def get_adapter(aid: str, request: Request):
    return request.app.state.svc.store.info(aid)


@router.patch("/v1/adapters/{aid}")
def patch_adapter(aid: str, patch: AdapterPatch, request: Request):
    """Mark an adapter calibrated (or not): /v1/classify then calibrates by default."""
    store = request.app.state.svc.store
    store.require(aid)
    if patch.calibrated and not store.prompts(aid, "id"):
        raise ApiError(400, NO_PROMPTS, "calibrated", "nothing_to_calibrate")
    return store.set_calibrated(aid, patch.calibrated)


@router.get("/v1/adapters/{aid}/download")
def download_adapter(aid: str, request: Request):
    data = request.app.state.svc.store.zip_bytes(aid)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{aid}.zip"'})


@router.delete("/v1/adapters/{aid}")
def delete_adapter(aid: str, request: Request):
    svc = request.app.state.svc
    svc.store.delete(aid)  # a queued chat for it then fails with 404 (ids are content-derived, so a
    # re-created adapter of the same id has the same weights: the engine needs no notice)
    return {"id": aid, "object": "adapter", "deleted": True}
