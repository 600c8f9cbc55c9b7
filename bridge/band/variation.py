"""The variation GAN's generator as the bridge runs it: ONNX through onnxruntime on one thread, no torch.

Contract (docs/band-gan.md, "Contract"): inputs `noise` float32 [B, noise], `chord` float32 [B, 16] (root one-hot
[12], then quality one-hot [4] in bridge/band/grid.py's QUALITIES order), `meter` float32 [B, 1] (1.0 = 3/4),
`previous` float32 [B, GRID_SIZE] (the bar before, 0/1) and `style` float32 [B, latent] (a pattern-VAE latent);
output `probs` float32 [B, GRID_SIZE]; metadata `sideman_band_gan` = JSON with `noise`, `latent`, `grid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sideman.bridge.band.decoder import open_session
from sideman.bridge.band.grid import GRID_SHAPE, GRID_SIZE, QUALITIES, binarise, chord_of
from sideman.bridge.errors import ModelError

METADATA_KEY = "sideman_band_gan"
INPUTS = ("noise", "chord", "meter", "previous", "style")
CHORD_SIZE = 12 + len(QUALITIES)


def chord_vector(chord: int) -> np.ndarray:
    """A chord index (bridge/band/grid.py) -> [16] float32: root one-hot, then quality one-hot."""
    root, quality = chord_of(chord)
    v = np.zeros(CHORD_SIZE, np.float32)
    v[root] = 1.0
    v[12 + QUALITIES.index(quality)] = 1.0
    return v


class OnnxVariationGenerator:
    def __init__(self, session, noise: int, latent: int, name: str) -> None:
        self._session = session
        self.noise = noise
        self.latent = latent
        self.name = name

    @classmethod
    def load(cls, path: Path) -> "OnnxVariationGenerator":
        """The generator at `path`, its metadata and inputs checked (ModelError naming the file otherwise)."""
        session, meta = open_session(path, METADATA_KEY, "band variation model file", "band variation generator")
        try:
            noise, latent = int(meta["noise"]), int(meta["latent"])
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
            raise ModelError(f"{path}: not a band variation generator ({type(exc).__name__}: {exc})") from None
        names = tuple(i.name for i in session.get_inputs())
        if set(names) != set(INPUTS) or tuple(meta.get("grid", ())) != GRID_SHAPE:
            raise ModelError(f"{path}: band variation inputs {sorted(names)} / grid {meta.get('grid')} do not match "
                             f"{', '.join(INPUTS)} / {list(GRID_SHAPE)}")
        return cls(session, noise, latent, Path(path).stem)

    def generate(self, noise: np.ndarray, chord: np.ndarray, meter: np.ndarray, previous: np.ndarray,
                 style: np.ndarray) -> np.ndarray:
        """The contract's inputs (batched) -> probabilities [B, GRID_SIZE]."""
        feed = {"noise": noise, "chord": chord, "meter": meter, "previous": previous, "style": style}
        (probs,) = self._session.run(["probs"], {k: np.asarray(v, np.float32) for k, v in feed.items()})
        return probs.reshape(len(noise), GRID_SIZE)

    def propose(self, previous: np.ndarray, chord: int, beats: int, style: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """The next bar's grid [CELLS, SLOTS, 2] after `previous` (a grid) under `chord`, in `beats`/4, for the style
        latent and a noise vector [noise]."""
        probs = self.generate(np.asarray(noise, np.float32)[None, :], chord_vector(chord)[None, :],
                              np.array([[1.0 if beats == 3 else 0.0]], np.float32),
                              np.asarray(previous, np.float32).reshape(1, GRID_SIZE),
                              np.asarray(style, np.float32)[None, :])
        return binarise(probs[0], beats)


@dataclass(frozen=True)
class VaryingDecoder:
    """A pattern decoder joined by its variation generator: one model for the renderer and the engine builder."""

    decoder: object  # bridge/band/engine.py's PatternDecoder
    variation: OnnxVariationGenerator

    @property
    def latent(self) -> int:
        return self.decoder.latent

    @property
    def anchors(self) -> dict[str, np.ndarray]:
        return self.decoder.anchors

    @property
    def contract(self):
        return self.decoder.contract

    def decode(self, z: np.ndarray, meter: np.ndarray) -> np.ndarray:
        return self.decoder.decode(z, meter)
