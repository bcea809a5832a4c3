"""Loss curves of a zoo as one PNG."""

from __future__ import annotations

from pathlib import Path

from dnd.fileio import atomic_write, read_json
from dnd.zoo.manifest import load_manifest


def plot_losses(zoo_dir: str | Path, out: str | Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zoo_dir = Path(zoo_dir)
    manifest = load_manifest(zoo_dir)
    out = Path(out) if out else zoo_dir / "losses.png"
    fig, ax = plt.subplots(figsize=(8, 5))
    for task, entry in manifest["tasks"].items():
        losses = read_json(zoo_dir / entry["losses"])
        ax.plot(range(1, len(losses) + 1), losses, label=task, linewidth=1)
        first_kept = entry["checkpoints"][0]["step"]
        ax.axvline(first_kept, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (answer tokens)")
    ax.set_yscale("log")
    ax.set_title(f"LoRA zoo: {manifest['base_model']['name']}, r={manifest['lora']['r']} (dotted: kept checkpoints start)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return out
