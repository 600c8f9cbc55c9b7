"""Export the pattern VAE's decoder to ONNX for the band style, with its anchors in the metadata, parity-checked.

    python3 -m sideman.export.band_export models/default/band-vae.pt bridge/assets/band-vae.onnx

The contract (docs/model-contract.md, "Band pattern decoder") is bridge/band/decoder.py's: z [B, latent] and
meter [B, 1] in, probs [B, GRID_SIZE] out, metadata `sideman_band`.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
import torch

from sideman.bridge.band.decoder import METADATA_KEY, OnnxPatternDecoder
from sideman.bridge.band.grid import BASS_SLOTS, COMP_SLOTS, GRID_SHAPE
from sideman.models.band.vae import PatternVAE, load_vae

OPSET = 17
PARITY_TOLERANCE = 1e-5


class _Decoder(torch.nn.Module):
    def __init__(self, vae: PatternVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor, meter: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z, meter)


def export_decoder(vae: PatternVAE, anchors: dict[str, list[float]], out: str | Path, provenance: dict) -> Path:
    """Write the decoder graph (dynamic batch) with the band metadata to `out`."""
    latent = vae.config.latent
    args = (torch.zeros(2, latent), torch.zeros(2, 1))
    buf = io.BytesIO()
    torch.onnx.export(_Decoder(vae), args, buf, input_names=["z", "meter"], output_names=["probs"], opset_version=OPSET,
                      dynamo=False, dynamic_axes={"z": {0: "batch"}, "meter": {0: "batch"}, "probs": {0: "batch"}})
    return save_with_metadata(buf.getvalue(), METADATA_KEY, {
        "latent": latent, "grid": list(GRID_SHAPE), "bass_slots": list(BASS_SLOTS), "comp_slots": list(COMP_SLOTS),
        "anchors": anchors, "provenance": provenance}, out)


def save_with_metadata(graph: bytes, key: str, meta: dict, out: str | Path) -> Path:
    """Write an exported graph to `out` with `meta` as JSON under the metadata key `key`, checked by onnx."""
    model = onnx.load_from_string(graph)
    entry = model.metadata_props.add()
    entry.key = key
    entry.value = json.dumps(meta)
    onnx.checker.check_model(model)
    out = Path(out)
    onnx.save(model, out)
    return out


def report_parity(out: Path, error: float) -> int:
    """Say what was written and its parity; exit code 2 (one line) if the parity is above the tolerance."""
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB); parity max |diff| = {error:.2e}")
    if error > PARITY_TOLERANCE:
        print(f"sideman: error: parity {error:.2e} above {PARITY_TOLERANCE:g}", file=sys.stderr)
        return 2
    return 0


@torch.no_grad()
def parity(vae: PatternVAE, path: str | Path, samples: int = 64, seed: int = 0) -> float:
    """Largest |torch - onnxruntime| over random latents (3/4 and 4/4)."""
    decoder = OnnxPatternDecoder.load(Path(path))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((samples, vae.config.latent)).astype(np.float32) * 1.5
    meter = (rng.random((samples, 1)) < 0.5).astype(np.float32)
    want = vae.decode(torch.from_numpy(z), torch.from_numpy(meter)).numpy()
    return float(np.abs(decoder.decode(z, meter) - want).max())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("out")
    args = p.parse_args(argv)
    vae, saved = load_vae(args.checkpoint)
    anchors = {name: a["z"] for name, a in saved["anchors"].items()}
    report = saved.get("report", {})
    provenance = {"checkpoint": Path(args.checkpoint).name, "anchor_bars": {k: a["bars"] for k, a in saved["anchors"].items()},
                  "held_out": {k: report.get(k) for k in ("split", "entry_accuracy", "cell_accuracy", "active_dims")}}
    out = export_decoder(vae, anchors, args.out, provenance)
    return report_parity(out, parity(vae, out))


if __name__ == "__main__":
    sys.exit(main())
