"""Saving and loading ChoraleNet checkpoints as dicts of plain types (weights_only-safe).

A checkpoint is `{"format": "sideman-checkpoint", "version": 1, "config": NetConfig dict,
"state_dict": {name: tensor}, "meta": {...}}` where meta holds only str/int/float/bool/None/list/dict
(split hash, exact command line, metrics, training time...). It loads with
`torch.load(..., weights_only=True)`, so opening a checkpoint never runs code from the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from sideman.bridge.errors import CheckpointError
from sideman.models.network import ChoraleNet, NetConfig

FORMAT = "sideman-checkpoint"
VERSION = 1


def build_network(cfg: NetConfig) -> Any:
    """The online ChoraleNet, or the offline TeacherNet when the config has an encoder."""
    if cfg.encoder:
        from sideman.models.teacher import TeacherNet

        return TeacherNet(cfg)
    return ChoraleNet(cfg)


def save_checkpoint(path: str | os.PathLike[str], model: ChoraleNet, extra: dict[str, Any] | None = None) -> None:
    """Write atomically (temp file + rename) so an interrupted run never leaves a truncated checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        # JSON round trip: metadata must be plain data, or the file would not load with weights_only=True
        "meta": json.loads(json.dumps(dict(extra or {}))),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(doc, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Load a checkpoint into a fresh network (eval mode; a TeacherNet if its config has an encoder);
    any defect raises a one-line CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (RuntimeError, UnpicklingError, EOFError, ...)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason[:160]})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a Sideman checkpoint")
    if doc.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {doc.get('version')!r} is not supported")
    try:
        cfg = NetConfig.from_dict(doc["config"])
        model = build_network(cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad network config ({exc})") from None
    try:
        model.load_state_dict(doc["state_dict"], strict=True)
    except (KeyError, RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointError(f"{path}: weights do not match the network config ({detail[:200]})") from None
    model.eval()
    meta = doc.get("meta", {})
    return model, meta if isinstance(meta, dict) else {}


def warm_start(model: Any, path: str | os.PathLike[str]) -> list[str]:
    """Copy the weights of the checkpoint at `path` into `model` wherever they fit: an online network's
    weights into a teacher's step network, and a step GRU's input weights into a wider one (the extra
    inputs, the teacher's tune encoding, start at zero weight, so the copy starts as the source does).
    Returns the names of the parameters that kept their fresh initialisation."""
    source, _ = load_checkpoint(path)
    src = {k.removeprefix("net."): v for k, v in source.state_dict().items()}
    fresh = []
    with torch.no_grad():
        for name, param in model.state_dict().items():
            key = name.removeprefix("net.")
            value = src.get(key)
            if value is not None and value.shape == param.shape:
                param.copy_(value)
            elif value is not None and key.startswith("gru.weight_ih") and value.shape[0] == param.shape[0]:
                param.zero_()
                param[:, : value.shape[1]] = value
            else:
                fresh.append(name)
    return fresh
