"""The pattern VAE's decoder as the bridge runs it: ONNX through onnxruntime on one thread, no torch.

Contract (docs/model-contract.md, "Band pattern decoder"): inputs `z` float32 [B, latent] and `meter` float32
[B, 1] (1.0 = 3/4, 0.0 = 4/4), output `probs` float32 [B, GRID_SIZE]; metadata `sideman_band` = JSON with
`latent`, `grid` ([cells, slots, 2]) and `anchors` (style name -> latent list).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sideman.bridge.band.grid import GRID_SHAPE, GRID_SIZE
from sideman.bridge.errors import ModelError

METADATA_KEY = "sideman_band"


@dataclass(frozen=True)
class BandPart:
    name: str
    channel: int  # 1-based suggestion, as the chorale contract's parts


@dataclass(frozen=True)
class BandContract:
    """What the live loop, status line and renderer read from an engine's contract."""

    name: str = "band-vae"
    steps_per_beat: int = 4
    max_beats_in_bar: int = 16
    parts: tuple[BandPart, ...] = (BandPart("bass", 2), BandPart("comping", 3))

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts)


def open_session(path: Path, key: str, file_kind: str, model_kind: str) -> tuple[object, dict]:
    """The runtime's session (sideman.bridge.model.runtime.open_session) and the JSON metadata under `key`
    (ModelError naming the file if it is missing, "no such <file_kind>", or unreadable, "not a <model_kind>")."""
    from sideman.bridge.model.runtime import open_session as runtime_session

    if not Path(path).is_file():
        raise ModelError(f"{path}: no such {file_kind}")
    try:
        session = runtime_session(Path(path))
        meta = json.loads(session.get_modelmeta().custom_metadata_map[key])
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise ModelError(f"{path}: not a {model_kind} ({type(exc).__name__}: {exc})") from None
    return session, meta


class OnnxPatternDecoder:
    def __init__(self, session, latent: int, anchors: dict[str, np.ndarray], name: str) -> None:
        self._session = session
        self.latent = latent
        self.anchors = anchors
        self.contract = BandContract(name=name)

    @classmethod
    def load(cls, path: Path) -> "OnnxPatternDecoder":
        """The decoder at `path`, its metadata and I/O checked (ModelError naming the file otherwise)."""
        session, meta = open_session(path, METADATA_KEY, "band model file", "band pattern decoder")
        try:
            latent = int(meta["latent"])
            anchors = {str(k): np.asarray(v, np.float32) for k, v in meta["anchors"].items()}
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
            raise ModelError(f"{path}: not a band pattern decoder ({type(exc).__name__}: {exc})") from None
        names = {i.name: i.shape for i in session.get_inputs()}
        if set(names) != {"z", "meter"} or tuple(meta.get("grid", ())) != GRID_SHAPE:
            raise ModelError(f"{path}: band decoder inputs {sorted(names)} / grid {meta.get('grid')} do not match "
                             f"z, meter / {list(GRID_SHAPE)}")
        if not anchors or any(v.shape != (latent,) for v in anchors.values()):
            raise ModelError(f"{path}: band decoder anchors must be {latent}-long latents")
        return cls(session, latent, anchors, Path(path).stem)

    def decode(self, z: np.ndarray, meter: np.ndarray) -> np.ndarray:
        """z [B, latent], meter [B, 1] -> probabilities [B, GRID_SIZE]."""
        (probs,) = self._session.run(["probs"], {"z": np.asarray(z, np.float32), "meter": np.asarray(meter, np.float32)})
        return probs.reshape(len(z), GRID_SIZE)
