"""The band decoder through ONNX: parity with torch, the anchors in its metadata, checked at load, run by the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sideman.bridge.band.decoder import OnnxPatternDecoder
from sideman.bridge.band.engine import BandEngine, BandSettings
from sideman.bridge.errors import ModelError
from sideman.export.band_export import PARITY_TOLERANCE, export_decoder, parity
from sideman.models.band.vae import PatternVAE, VAEConfig


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    vae = PatternVAE(VAEConfig(latent=6, hidden=32)).eval()
    anchors = {"sustained": [0.5] * 6, "walking": [-0.5] * 6}
    path = export_decoder(vae, anchors, tmp_path_factory.mktemp("band") / "band.onnx", {"test": True})
    return vae, path


def test_parity_and_metadata(exported):
    vae, path = exported
    assert parity(vae, path) <= PARITY_TOLERANCE
    decoder = OnnxPatternDecoder.load(path)
    assert decoder.latent == 6 and set(decoder.anchors) == {"sustained", "walking"}
    assert np.allclose(decoder.anchors["walking"], -0.5)


def test_the_engine_runs_the_onnx_decoder(exported):
    engine = BandEngine(OnnxPatternDecoder.load(exported[1]), BandSettings(knob=0.3))
    for step in range(32):
        engine.tick(step, step * 0.1, 0.1, 3)
    assert engine.fault is None


def test_a_file_that_is_no_band_decoder_is_a_model_error(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="junk.onnx"):
        OnnxPatternDecoder.load(junk)
    with pytest.raises(ModelError, match="no such"):
        OnnxPatternDecoder.load(tmp_path / "missing.onnx")
