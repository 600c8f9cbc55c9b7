"""The pattern VAE: shapes, a training step that learns, the style rules on hand-made grids."""

from __future__ import annotations

import numpy as np
import torch

from sideman.bridge.band.grid import GRID_SHAPE, GRID_SIZE, N_BASS, ONSET, SOUND
from sideman.models.band.extract import Bars
from sideman.models.band.train import evaluate, train
from sideman.models.band.vae import PatternVAE, VAEConfig, is_arpeggio, is_sustained, is_waltz, is_walking, loss_terms


def grid_with(bass: dict[int, int] = {}, comp: dict[int, list[int]] = {}, hold_bass: bool = True) -> np.ndarray:
    """bass: cell -> slot starting there (held until the next start); comp: cell -> comping slots struck (an 8th)."""
    g = np.zeros(GRID_SHAPE, np.uint8)
    starts = sorted(bass)
    for i, cell in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else 16
        g[cell:end if hold_bass else cell + 2, bass[cell], SOUND] = 1
        g[cell, bass[cell], ONSET] = 1
    for cell, slots in comp.items():
        for s in slots:
            g[cell:cell + 2, N_BASS + s, SOUND] = 1
            g[cell, N_BASS + s, ONSET] = 1
    return g


def test_shapes():
    vae = PatternVAE(VAEConfig(latent=8, hidden=32))
    grid, meter = torch.zeros(5, GRID_SIZE), torch.ones(5, 1)
    logits, mu, logvar = vae(grid, meter)
    assert logits.shape == (5, GRID_SIZE) and mu.shape == logvar.shape == (5, 8)
    probs = vae.decode(mu, meter).detach()
    assert probs.shape == (5, GRID_SIZE) and float(probs.min()) >= 0 and float(probs.max()) <= 1
    bce, kl = loss_terms(vae, grid, meter)
    assert bce.ndim == 0 and kl.shape == (5, 8)


def test_a_few_epochs_learn_two_patterns():
    grids = np.stack([grid_with({0: 0}, {4: [1, 2], 8: [1, 2], 12: [1, 2]}), grid_with({0: 0, 4: 2, 8: 1, 12: 4})] * 32)
    bars = Bars(grids, np.full(len(grids), 4), np.zeros(len(grids), np.int64), np.zeros(len(grids), np.int64))
    vae = PatternVAE(VAEConfig(latent=4, hidden=64))
    before = evaluate(vae, bars)["entry_accuracy"]
    train(vae, bars, epochs=40, batch=16, lr=5e-3, warmup=5, log=lambda s: None)
    after = evaluate(vae.eval(), bars)
    assert after["entry_accuracy"] > max(before, 0.97)
    assert after["cell_accuracy"] > 0.9


def test_style_rules():
    walking = grid_with({0: 0, 4: 2, 8: 1, 12: 4})
    assert is_walking(walking, 4) and not is_sustained(walking, 4) and not is_waltz(walking, 4)
    assert is_sustained(grid_with({0: 0}, {0: [1, 2]}), 4)
    waltz = grid_with({0: 0}, {4: [1, 2], 8: [1, 2]})
    assert is_waltz(waltz, 3) and not is_waltz(waltz, 4)
    arpeggio = grid_with({0: 0, 2: 2, 4: 1, 6: 2, 8: 0, 10: 2, 12: 1, 14: 2}, hold_bass=False)
    assert is_arpeggio(arpeggio, 4) and not is_arpeggio(walking, 4)
