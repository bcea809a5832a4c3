"""scripts/zoo_baselines.sh: which zoo-LoRA baselines the benchmark scripts score, from the
task LoRAs a zoo holds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dnd.tasks.registry import pick_tasks

ROOT = Path(__file__).resolve().parents[1]


def baselines(zoo: Path, tasks: list[str], **env) -> tuple[str, str]:
    zoo.mkdir(exist_ok=True)
    (zoo / "manifest.json").write_text(json.dumps({"tasks": {t: {} for t in tasks}}))
    script = f'source scripts/zoo_baselines.sh; zoo_baselines "{zoo}"; echo "$ZOO_METHODS|${{NEAR_FLAGS[*]}}"'
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PY": sys.executable, **env})
    assert r.returncode == 0, r.stderr
    methods, flags = r.stdout.strip().split("|")
    return methods, flags


@pytest.mark.parametrize("held, env, expected", [
    ("all", {}, (",nearest,average,training_loras", "")),
    ("some", {}, (",nearest", "--nearest-among wide")),
    ("some", {"NEAREST_AMONG": ""}, (",nearest,average,training_loras", "")),
    ("none", {}, ("", "")),
])
def test_the_baselines_a_zoo_allows(tmp_path, held, env, expected):
    wide = pick_tasks("wide", None)
    tasks = {"all": wide, "some": wide[:3], "none": []}[held]
    assert baselines(tmp_path / "zoo", tasks, **env) == expected
