"""Where `sideman train` writes its checkpoint when not told (and `sideman evaluate` reads it).

In a source checkout it is the committed models/default/; an installed package's own directory is
no place to write (it may be read-only, and an upgrade would delete the model), so there it is a
user directory beside the recorded sessions.
"""

from __future__ import annotations

from pathlib import Path

CHECKPOINT_NAME = "chorale-gru.pt"


def default_checkpoint(package_dir: Path | None = None) -> Path:
    """The default checkpoint path for the `sideman.models` package at `package_dir` (default: this one)."""
    here = Path(package_dir) if package_dir is not None else Path(__file__).resolve().parent
    if (here.parent / "pyproject.toml").is_file():  # the repository: models/ sits beside pyproject.toml
        return here / "default" / CHECKPOINT_NAME
    return Path.home() / ".local" / "share" / "sideman" / "models" / CHECKPOINT_NAME


# The imitation model (trained on the chorales alone, no reward): the shipped default's starting weights and
# the "today's model" reference of the distillation and cold-start studies.
IMITATION_NAME = "chorale-gru-imitation"


def imitation_model(suffix: str = ".onnx") -> Path:
    """models/default/chorale-gru-imitation.onnx (or .pt) in the repository."""
    return Path(__file__).resolve().parent / "default" / (IMITATION_NAME + suffix)
