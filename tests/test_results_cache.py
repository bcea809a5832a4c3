"""scripts/results_cache.sh: the committed score pieces round-trip through their archives."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "results_cache.sh"


def run(repo: Path, command: str) -> None:
    subprocess.run(["bash", str(repo / "scripts" / "results_cache.sh"), command], check=True, capture_output=True)


def test_pack_unpack_round_trip_and_reproducible(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts")
    cache = tmp_path / "results" / "work" / "unseen" / "cache" / "loglik-bf16" / "n100" / "task"
    cache.mkdir(parents=True)
    (cache / "base.json").write_text('{"accuracy": 0.5}')
    ladder = tmp_path / "results" / "ladder" / "x" / "work" / "wide_val" / "cache"
    ladder.mkdir(parents=True)  # a ladder candidate's own pieces stay out of git: never packed
    run(tmp_path, "pack")
    archive = tmp_path / "results" / "work" / "unseen" / "cache.tar.gz"
    first = archive.read_bytes()
    assert not (ladder.parent / "cache.tar.gz").exists()
    run(tmp_path, "pack")
    assert archive.read_bytes() == first  # the same bytes for the same pieces
    shutil.rmtree(tmp_path / "results" / "work" / "unseen" / "cache")
    run(tmp_path, "unpack")
    assert (cache / "base.json").read_text() == '{"accuracy": 0.5}'
    (cache / "base.json").write_text('{"accuracy": 0.7}')  # a newer piece is kept by unpack
    run(tmp_path, "unpack")
    assert (cache / "base.json").read_text() == '{"accuracy": 0.7}'


def test_committed_archives_hold_only_json_pieces():
    archives = sorted((ROOT / "results").glob("**/work/*/cache.tar.gz"))
    assert archives, "no committed score archives"
    for archive in archives:
        with tarfile.open(archive) as tar:
            names = [m.name for m in tar.getmembers() if m.isfile()]
        assert names and all(n.startswith("cache/") and n.endswith(".json") for n in names), archive
