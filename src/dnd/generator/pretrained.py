"""The shipped default generator: where it lives in the package.

    from dnd.generator.generate import Generator
    gen = Generator.from_pretrained()          # no path: the shipped generator, checksums verified

`dnd generate` and `dnd serve` use it when `--generator` is not given. The directory is a
plain generator directory (what `dnd train` writes) whose tensors are stored in bf16;
`Generator.from_pretrained` loads them into its fp32 modules. `DND_PRETRAINED=DIR` puts
another generator directory in its place (tests; a generator of one's own).

A trained generator becomes the shipped one by `python -m dnd.cli.pretrained export GEN_DIR`
(dnd.cli.pretrained: the export, its check and the model card).
"""

from __future__ import annotations

import os
from pathlib import Path

from dnd.errors import DndError
from dnd.generator import config as C

PRETRAINED_NAME = "smollm2-135m-instruct"  # the base model it writes adapters for
PRETRAINED_DIR = Path(__file__).parent / "pretrained" / PRETRAINED_NAME
ENV = "DND_PRETRAINED"


def default_dir() -> Path:
    """Where the shipped generator is looked for: $DND_PRETRAINED, else PRETRAINED_DIR."""
    return Path(os.environ.get(ENV) or PRETRAINED_DIR)


def resolve(path: str | os.PathLike | None) -> Path:
    """`path` itself, or (None) the shipped generator's directory, with a one-line error
    when this install has none."""
    if path is not None:
        return Path(path)
    where = default_dir()
    if not (where / C.MANIFEST).exists() and not (where / C.CONFIG).exists():
        raise DndError(f"no shipped generator in {where} (this checkout has none yet): pass --generator GEN_DIR "
                       f"(a `dnd train` output), or export one with `python -m dnd.cli.pretrained export GEN_DIR`")
    return where
