"""The generator's training losses for a few seeded steps of every objective and head, on
the tiny zoo of tests/conftest.py: the golden values test_loop.py holds the training loop to.

    python tests/generator/golden_losses.py            # print them
    python tests/generator/golden_losses.py --write    # (re)write data/golden_losses.json

Written once from train.py before the loop was split into sampler / objectives / loop
(issue 21), so the split is checked against the code it replaced.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
GOLDEN = HERE / "data" / "golden_losses.json"
STEPS = 4


def golden_configs() -> dict:
    """name -> GeneratorConfig: each objective with the heads it trains."""
    from dnd.generator import config as C
    from dnd.generator.condition import ConditionSettings

    def cfg(objective, head=None, n_basis=0, reference="none", description=False, precision="fp32"):
        return C.GeneratorConfig(
            condition=ConditionSettings(n_prompts=4),
            decoder=C.DecoderSettings(hidden_channels=(8,), n_basis=n_basis),
            head=C.HeadSettings(width=8, embed_dim=4, cond_dim=8, description=description, b_scale=1.0)
            if head == "shared" else None,
            reference=reference,
            train=C.GenTrainSettings(steps=STEPS, batch_size=2, lr=3e-3, warmup_steps=1, max_pool=16,
                                     save_every=1000, objective=objective, items_per_task=2, max_length=48,
                                     precision=precision),
        )

    return {
        "reconstruction-conv": cfg("reconstruction"),
        "reconstruction-basis": cfg("reconstruction", n_basis=3),
        "reconstruction-shared": cfg("reconstruction", head="shared"),
        "functional-shared": cfg("functional", head="shared"),
        "functional-basis": cfg("functional", n_basis=3),
        "functional-shared-bf16": cfg("functional", head="shared", precision="bf16"),
        "hybrid-shared-residual-desc": cfg("hybrid", head="shared", reference="zoo-mean", description=True),
    }


def losses_of(zoo: Path, work: Path) -> dict[str, list[float]]:
    from dnd.fileio import read_json
    from dnd.generator import config as C
    from dnd.generator.train import train_generator

    out = {}
    for name, config in golden_configs().items():
        train_generator(zoo, work / name, config)
        out[name] = read_json(work / name / C.LOSSES)
    return out


def main() -> None:
    sys.path.insert(0, str(HERE.parent))
    from conftest import build_tiny_zoo, make_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        zoo = tmp / "zoo"
        build_tiny_zoo(zoo, str(make_tiny_model(tmp / "tiny_model")))
        losses = losses_of(zoo, tmp / "gens")
    print(json.dumps(losses, indent=1))
    if "--write" in sys.argv:
        GOLDEN.write_text(json.dumps(losses, indent=1) + "\n")


if __name__ == "__main__":
    main()
