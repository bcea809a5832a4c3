"""scripts/variant.sh: the training variants the pilot and GPU scripts take by name."""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "variant.sh"


def _variant(name: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f'source "{SCRIPT}" && variant "$1" && echo "$VOBJ|$VFLAGS"', "-", name],
                          capture_output=True, text=True)


def test_names_map_to_objective_and_flags():
    assert _variant("functional").stdout.strip() == "functional|"
    assert _variant("contrastive-cap").stdout.strip() == "contrastive|--contrast-cap"
    assert _variant("contrastive-detach").stdout.strip() == "contrastive|--contrast-detach"


def test_an_unknown_name_is_one_line_and_exit_2():
    r = _variant("contrastive-typo")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "unknown training variant 'contrastive-typo' (functional, contrastive, contrastive-detach, contrastive-cap, "
        "hybrid, reconstruction)"]


def test_the_seen_task_ablation_checks_its_variant_before_running_anything(tmp_path):
    script = SCRIPT.parent / "seen_task_ablation.sh"
    r = subprocess.run(["bash", str(script), str(tmp_path / "gen"), str(tmp_path / "zoo")],
                       env={"PATH": "/usr/bin:/bin", "VARIANT": "cap"}, capture_output=True, text=True)
    assert r.returncode == 2 and "unknown training variant 'cap'" in r.stderr
    assert not list(tmp_path.iterdir())  # no zoo, no generator
