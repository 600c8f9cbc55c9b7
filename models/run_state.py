"""What a training run leaves beside its checkpoint `X.pt`, besides the best weights in `X.pt` itself:

- `X.last.pt`: the latest training state (model, optimizer, scheduler, step, epoch, best so far, the
  Python / numpy / torch RNG states), written after every epoch; `sideman train --resume X.last.pt`
  continues from it exactly where the run stopped.
- `X.json`: the run's config, the hash of its data (splits + the data code key) and its metrics,
  rewritten after every epoch, so that an interrupted run is described too.

Both load without running code from the file (torch.load weights_only, JSON).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from sideman.bridge.errors import CheckpointError

STATE_FORMAT = "sideman-train-state"


def state_path(out: Path) -> Path:
    return out.with_name(out.stem + ".last.pt")


def run_json_path(out: Path) -> Path:
    return out.with_suffix(".json")


def rng_states(rng: np.random.Generator) -> dict[str, Any]:
    import torch

    return {"python": json.dumps(random.getstate()), "numpy": json.dumps(rng.bit_generator.state),
            "torch": torch.get_rng_state()}


def restore_rngs(states: dict[str, Any], rng: np.random.Generator) -> None:
    import torch

    version, inner, gauss = json.loads(states["python"])
    random.setstate((version, tuple(inner), gauss))
    rng.bit_generator.state = json.loads(states["numpy"])
    torch.set_rng_state(states["torch"])


def save_state(path: Path, doc: dict[str, Any]) -> None:
    """Atomically write a training state (temp file + rename)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": STATE_FORMAT, **doc}, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict[str, Any]:
    """A state written by `save_state`; a missing or foreign file raises a one-line CheckpointError."""
    import torch

    if not path.is_file():
        raise CheckpointError(f"{path}: training state not found")
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types on a bad file
        raise CheckpointError(f"{path}: not a readable training state ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a Sideman training state (pass the .last.pt file to --resume)")
    return doc


def write_run_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
