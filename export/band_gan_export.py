"""Export the variation GAN's generator to ONNX for the band style, parity-checked against torch.

    python3 -m sideman.export.band_gan_export models/default/band-gan.pt bridge/assets/band-gan.onnx

The contract (docs/band-gan.md) is bridge/band/variation.py's: noise, chord, meter, previous, style in, probs out,
metadata `sideman_band_gan`.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from sideman.bridge.band.grid import BASS_SLOTS, COMP_SLOTS, GRID_SHAPE, GRID_SIZE, QUALITIES
from sideman.bridge.band.variation import CHORD_SIZE, INPUTS, METADATA_KEY, OnnxVariationGenerator
from sideman.export.band_export import OPSET, report_parity, save_with_metadata
from sideman.models.band.gan import Generator, load_generator




def example_inputs(g: Generator, batch: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Random inputs of the contract's shapes: noise, chord one-hots, meters, 0/1 previous bars, style latents."""
    rng = np.random.default_rng(seed)
    chord = np.zeros((batch, CHORD_SIZE), np.float32)
    chord[np.arange(batch), rng.integers(12, size=batch)] = 1.0
    chord[np.arange(batch), 12 + rng.integers(len(QUALITIES), size=batch)] = 1.0
    return (rng.standard_normal((batch, g.config.noise)).astype(np.float32), chord,
            (rng.random((batch, 1)) < 0.5).astype(np.float32),
            (rng.random((batch, GRID_SIZE)) < 0.15).astype(np.float32),
            rng.standard_normal((batch, g.config.latent)).astype(np.float32))


def export_generator(g: Generator, out: str | Path, provenance: dict) -> Path:
    """Write the generator graph (dynamic batch) with its metadata to `out`."""
    args = tuple(torch.from_numpy(x) for x in example_inputs(g, 2))
    buf = io.BytesIO()
    axes = {name: {0: "batch"} for name in (*INPUTS, "probs")}
    torch.onnx.export(g, args, buf, input_names=list(INPUTS), output_names=["probs"], opset_version=OPSET,
                      dynamo=False, dynamic_axes=axes)
    return save_with_metadata(buf.getvalue(), METADATA_KEY, {
        "noise": g.config.noise, "latent": g.config.latent, "grid": list(GRID_SHAPE), "bass_slots": list(BASS_SLOTS),
        "comp_slots": list(COMP_SLOTS), "qualities": list(QUALITIES), "provenance": provenance}, out)


@torch.no_grad()
def parity(g: Generator, path: str | Path, samples: int = 64, seed: int = 0) -> float:
    """Largest |torch - onnxruntime| over random inputs (3/4 and 4/4)."""
    inputs = example_inputs(g, samples, seed)
    want = g(*(torch.from_numpy(x) for x in inputs)).numpy()
    return float(np.abs(OnnxVariationGenerator.load(Path(path)).generate(*inputs) - want).max())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("out")
    args = p.parse_args(argv)
    g, saved = load_generator(args.checkpoint)
    provenance = {"checkpoint": Path(args.checkpoint).name, **saved.get("report", {})}
    out = export_generator(g, args.out, provenance)
    return report_parity(out, parity(g, out))


if __name__ == "__main__":
    sys.exit(main())
