"""The variation GAN: shapes, training steps that lower the losses, the style pairing, ONNX parity of the export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sideman.bridge.band.grid import GRID_SHAPE, GRID_SIZE, SOUND
from sideman.bridge.band.variation import OnnxVariationGenerator
from sideman.bridge.errors import ModelError
from sideman.export.band_gan_export import example_inputs, export_generator, parity
from sideman.models.band.gan import Discriminator, GANConfig, Generator, condition, d_loss, g_loss
from sideman.models.band.train_gan import Pairs, generate, other_bar

CONFIG = GANConfig(noise=4, latent=3, hidden=32, features=16)


def batch(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, tuple]:
    rng = np.random.default_rng(seed)
    grids = (rng.random((n, *GRID_SHAPE)) < 0.2).astype(np.uint8)
    previous = (rng.random((n, *GRID_SHAPE)) < 0.2).astype(np.uint8)
    beats = np.where(np.arange(n) % 2, 3, 4)
    cond = condition(rng.integers(48, size=n), beats, previous, rng.standard_normal((n, CONFIG.latent)))
    return torch.from_numpy(grids.reshape(n, GRID_SIZE).astype(np.float32)), cond


def test_shapes_and_the_bar_mask():
    g, d = Generator(CONFIG), Discriminator(CONFIG)
    real, cond = batch()
    probs = g(torch.randn(8, CONFIG.noise), *cond).detach()
    assert probs.shape == (8, GRID_SIZE) and 0.0 <= float(probs.min()) and float(probs.max()) <= 1.0
    grid = probs.numpy().reshape(8, *GRID_SHAPE)
    assert (grid[1::2, 12:] == 0).all() and (grid[0::2, 12:, :, SOUND] > 0).all()  # a 3/4 bar has no fourth beat
    logit, features = d(real, *cond)
    assert logit.shape == (8,) and features.shape == (8, CONFIG.features)


def test_training_steps_lower_both_losses():
    torch.manual_seed(0)
    g, d = Generator(CONFIG), Discriminator(CONFIG)
    real, cond = batch(32)

    def measured(loss) -> float:
        torch.manual_seed(1)
        return float(loss(g, d, real, cond))

    for loss, net in ((d_loss, d), (g_loss, g)):  # each side's steps, the other held
        before = measured(loss)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(20):
            opt.zero_grad()
            loss(g, d, real, cond).backward()
            opt.step()
        assert measured(loss) < before


def test_style_comes_from_another_bar_of_the_same_piece():
    piece = np.array([0, 0, 0, 1, 2, 2])
    for seed in range(5):
        other = other_bar(piece, seed)
        assert (piece[other] == piece).all()
        assert other[3] == 3  # a one-bar piece has no other bar
        assert (other[[0, 1, 2, 4, 5]] != [0, 1, 2, 4, 5]).all()


def test_generate_is_binarised_and_seeded():
    g = Generator(CONFIG).eval()
    n = 6
    rng = np.random.default_rng(0)
    pairs = Pairs(np.zeros((n, *GRID_SHAPE), np.uint8), (rng.random((n, *GRID_SHAPE)) < 0.2).astype(np.uint8),
                  np.array([4, 3] * 3), rng.integers(48, size=n), rng.standard_normal((n, CONFIG.latent)).astype(np.float32))
    a, b = generate(g, pairs, seed=3), generate(g, pairs, seed=3)
    assert a.shape == (n, *GRID_SHAPE) and set(np.unique(a)) <= {0, 1} and (a == b).all()
    assert not a[1::2, 12:, :, SOUND].any()


def test_onnx_export_matches_torch_and_loads(tmp_path):
    g = Generator(CONFIG).eval()
    path = export_generator(g, tmp_path / "gan.onnx", {"test": True})
    assert parity(g, path) < 1e-5
    loaded = OnnxVariationGenerator.load(path)
    assert (loaded.noise, loaded.latent) == (CONFIG.noise, CONFIG.latent)
    probs = loaded.generate(*example_inputs(g, 5))  # another batch size than the traced one
    assert probs.shape == (5, GRID_SIZE)


def test_a_file_that_is_not_a_generator_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="not a band variation generator"):
        OnnxVariationGenerator.load(bad)
    with pytest.raises(ModelError, match="no such"):
        OnnxVariationGenerator.load(tmp_path / "missing.onnx")


def test_the_generator_proposes_eighths():
    g = Generator(CONFIG).eval()
    _, cond = batch()
    with torch.no_grad():
        grid = g(torch.randn(8, CONFIG.noise), *cond).numpy().reshape(8, *GRID_SHAPE)
    assert (grid[:, 0::2, :, SOUND] == grid[:, 1::2, :, SOUND]).all()
    assert (grid[:, 1::2, :, 1] == 0).all() and (grid[0::2, 0::2, :, 1] > 0).all()
