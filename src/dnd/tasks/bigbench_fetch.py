"""The BIG-bench data behind the `unseen` suite: fetched once, cached as plain task.json files.

The tasks come from the `bigbench==1.0.0` sdist (358 MB), which was on PyPI until 2026-12
and is no longer listed there (the index holds bigbench 0.0.1 only): a machine without a copy
of it ($DND_BIGBENCH_TARBALL) or of a cache made from it ($DND_BIGBENCH) has no unseen suite,
and `make setup` goes on without it. The tests read a synthetic archive (tests/bigbench_toy.py). The package is never
installed or imported (its set-up pulls heavy, pinned dependencies by direct URL, so even
`pip download` refuses it). This set-up step instead

  1. reads the PyPI simple index page of `bigbench` and takes the link to
     bigbench-1.0.0.tar.gz (or uses a local copy: `--tarball PATH` or $DND_BIGBENCH_TARBALL),
  2. downloads it to a temporary file and checks its SHA-256 against SDIST_SHA256,
  3. streams the archive and keeps only the task.json files the `unseen` suite reads
     (bigbench-1.0.0/bigbench/benchmark_tasks/<task>[/<subtask>]/task.json),
  4. writes them, with a MANIFEST.json of their sizes and SHA-256s, to
     <cache>/bigbench/<task>[/<subtask>]/task.json, where <cache> is $DND_CACHE or
     ~/.cache/dnd; the folder is built under a temporary name and renamed, so a kill
     leaves either the old cache or the complete new one,
  5. deletes the tarball.

Without the archive, `--from-dir DIR` (or $DND_BIGBENCH_CHECKOUT) copies the same files from a
checkout of the BIG-bench repository (github.com/google/BIG-bench: DIR is the checkout, its
`bigbench` folder or its `bigbench/benchmark_tasks` folder). Nothing pins a checkout's
content: the manifest records the folder it came from, and figures made from it are
comparable to the committed ones only if its task files equal the 1.0.0 release's.

Run it as `python -m dnd.tasks.bigbench_fetch` (`make setup` does). When the cache already
holds every file the suite needs it returns at once (a stat per file, no hashing).
Readers (dnd.tasks.bigbench_cache) check each file against the manifest and raise
MissingDataError, one line saying how to fetch, when the cache is missing, incomplete or
corrupt.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from dnd.errors import DndError
from dnd.fileio import atomic_dir, sha256_file, write_json
from dnd.tasks import builders_bigbench as bb
from dnd.tasks.bigbench_cache import MANIFEST, bigbench_dir, clear_caches, is_cached
from dnd.tasks.registry import load_pools

SDIST_NAME = "bigbench-1.0.0.tar.gz"
SDIST_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
INDEX_URL = "https://pypi.org/simple/bigbench/"
TARBALL_ENV = "DND_BIGBENCH_TARBALL"
CHECKOUT_ENV = "DND_BIGBENCH_CHECKOUT"
MEMBER_PREFIX = "bigbench-1.0.0/bigbench/benchmark_tasks/"


def sdist_url(index_url: str = INDEX_URL) -> str:
    """The download link of SDIST_NAME on a PyPI simple index page (fragment removed)."""
    try:
        with urllib.request.urlopen(index_url, timeout=60) as r:
            page = r.read().decode("utf-8", "replace")
    except OSError as e:
        raise DndError(f"cannot read the package index {index_url} ({e}); set {TARBALL_ENV} to a local {SDIST_NAME}") from None
    for href in re.findall(r'href="([^"]+)"', page):
        url = urllib.parse.urljoin(index_url, href)
        if urllib.parse.urlsplit(url).path.endswith("/" + SDIST_NAME):
            return urllib.parse.urldefrag(url)[0]
    raise DndError(f"{index_url}: no link to {SDIST_NAME} (it left PyPI in 2026-12); "
                   f"set {TARBALL_ENV} to a local copy (SHA-256 {SDIST_SHA256[:12]}...) "
                   f"or {CHECKOUT_ENV} to a checkout of github.com/google/BIG-bench")


def _download(url: str, dest: Path) -> None:
    tty = sys.stderr.isatty()
    try:
        with urllib.request.urlopen(url, timeout=120) as r, open(dest, "wb") as f:
            total, done = int(r.headers.get("Content-Length") or 0), 0
            while block := r.read(1 << 20):
                f.write(block)
                done += len(block)
                if tty and total:
                    print(f"\r  {done >> 20}/{total >> 20} MiB", end="", file=sys.stderr, flush=True)
        if tty:
            print(file=sys.stderr)
    except OSError as e:
        raise DndError(f"download of {url} failed ({e}); set {TARBALL_ENV} to a local {SDIST_NAME}") from None


def extract(tarball: Path, tasks, out: Path) -> None:
    """Stream `tarball` once and write each task's task.json (and the manifest) under `out`."""
    wanted = {f"{MEMBER_PREFIX}{t}/task.json": t for t in tasks}
    files: dict[str, dict] = {}
    try:
        with tarfile.open(tarball, "r|gz") as tar:
            for member in tar:
                task = wanted.get(member.name)
                if task is None or not member.isfile():
                    continue
                data = tar.extractfile(member).read()
                (out / task).mkdir(parents=True, exist_ok=True)
                (out / task / "task.json").write_bytes(data)
                files[task] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    except (OSError, tarfile.TarError, EOFError) as e:
        raise DndError(f"{tarball}: unreadable archive ({e})") from None
    missing = sorted(set(wanted.values()) - set(files))
    if missing:
        raise DndError(f"{tarball}: no task.json for {', '.join(missing)}")
    write_json(out / MANIFEST, {"source": SDIST_NAME, "sha256": SDIST_SHA256, "files": dict(sorted(files.items()))})


def tasks_folder(checkout: Path) -> Path:
    """The benchmark_tasks folder of a BIG-bench checkout given as the checkout itself, its
    `bigbench` folder or the benchmark_tasks folder."""
    for folder in (checkout / "bigbench" / "benchmark_tasks", checkout / "benchmark_tasks", checkout):
        if folder.is_dir() and folder.name == "benchmark_tasks":
            return folder
    raise DndError(f"{checkout}: not a BIG-bench checkout (no bigbench/benchmark_tasks folder in it)")


def copy_from_dir(checkout: Path, tasks, out: Path) -> None:
    """Copy each task's task.json from a BIG-bench checkout to `out`, with the manifest."""
    src = tasks_folder(checkout)
    missing = [t for t in tasks if not (src / t / "task.json").is_file()]
    if missing:
        raise DndError(f"{src}: no task.json for {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    files: dict[str, dict] = {}
    for task in tasks:
        data = (src / task / "task.json").read_bytes()
        (out / task).mkdir(parents=True, exist_ok=True)
        (out / task / "task.json").write_bytes(data)
        files[task] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    write_json(out / MANIFEST, {"source": f"checkout {src.resolve()}", "files": dict(sorted(files.items()))})


def fetch(tasks, tarball: str | Path | None = None, force: bool = False, checkout: str | Path | None = None) -> str:
    """Make sure every task's task.json is cached, from the sdist (downloaded, or `tarball`)
    or from a BIG-bench `checkout`; returns a one-line summary."""
    tasks = sorted(set(tasks))
    root = bigbench_dir()
    if not force and is_cached(tasks):
        return f"BIG-bench cache complete: {len(tasks)} task files in {root}"
    root.parent.mkdir(parents=True, exist_ok=True)
    if checkout is not None:
        atomic_dir(root, lambda out: copy_from_dir(Path(checkout), tasks, out))
        clear_caches()
        return f"BIG-bench cache written from {checkout}: {len(tasks)} task files in {root}"
    tmp_download = None
    try:
        if tarball is None:
            fd, name = tempfile.mkstemp(prefix=".bigbench-", suffix=".tar.gz", dir=root.parent)
            os.close(fd)
            tmp_download = Path(name)
            url = sdist_url()
            print(f"downloading {url}", file=sys.stderr)
            _download(url, tmp_download)
            tarball = tmp_download
        tarball = Path(tarball)
        if not tarball.is_file():
            raise DndError(f"{tarball}: no such file (given by --tarball or ${TARBALL_ENV})")
        digest = sha256_file(tarball)
        if digest != SDIST_SHA256:
            raise DndError(f"{tarball}: SHA-256 {digest} is not that of {SDIST_NAME} ({SDIST_SHA256})")
        atomic_dir(root, lambda out: extract(tarball, tasks, out))
    finally:
        if tmp_download is not None and tmp_download.exists():
            tmp_download.unlink()
    clear_caches()
    return f"BIG-bench cache written: {len(tasks)} task files in {root}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m dnd.tasks.bigbench_fetch",
        description=f"Cache the BIG-bench task.json files of the unseen suite (from {SDIST_NAME}, or a BIG-bench checkout).",
    )
    p.add_argument("--tarball", default=os.environ.get(TARBALL_ENV),
                   help=f"a local {SDIST_NAME} instead of downloading it (default: ${TARBALL_ENV})")
    p.add_argument("--from-dir", metavar="DIR", default=os.environ.get(CHECKOUT_ENV),
                   help="copy the files from a checkout of github.com/google/BIG-bench instead of the sdist "
                        f"(default: ${CHECKOUT_ENV})")
    p.add_argument("--force", action="store_true", help="rebuild the cache even if it looks complete")
    p.add_argument("--report", action="store_true",
                   help="then build every unseen task and print what was read, dropped and kept")
    args = p.parse_args(argv)
    try:
        if args.tarball and args.from_dir:
            raise DndError("give --tarball or --from-dir, not both")
        print(fetch(bb.required_files(), tarball=args.tarball or None, force=args.force, checkout=args.from_dir or None))
        if args.report:
            print_report()
    except DndError as e:
        print(f"dnd: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


def print_report() -> None:
    """Per unseen task: examples read, dropped by reason, items (unique prompts, conflicting
    answers dropped, before the MAX_ITEMS cap), eval and train pool sizes."""
    reasons = ("not one correct", "duplicate options", "too long", "other")
    print("| task | domain | format | files | examples | " + " | ".join(reasons) + " | items | eval | train |")
    print("|" + "---|" * (8 + len(reasons)))
    for t in bb.TASKS:
        train, evals = load_pools(t.name)
        st = bb.STATS[t.name]
        cells = [t.name, t.domain, t.answer_format, len(t.files), st["examples"], *(st[r] for r in reasons),
                 st["items"], len(evals), len(train)]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
