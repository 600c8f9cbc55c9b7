"""The pattern VAE: a bar's grid (bridge/band/grid.py) and its meter to a small latent and back (MLPs).

`decode(z, meter)` is the export-ready half the bridge runs: z [B, LATENT] and meter [B, 1] (1.0 for 3/4, 0.0 for
4/4) -> probabilities [B, GRID_SIZE] (the grid flattened cell-major, then slot, then sound/start).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from sideman.bridge.band.grid import CELLS, GRID_SIZE, N_BASS, ONSET, SOUND, bar_cells


@dataclass(frozen=True)
class VAEConfig:
    latent: int = 12
    hidden: int = 256


class PatternVAE(nn.Module):
    def __init__(self, config: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.encoder = nn.Sequential(nn.Linear(GRID_SIZE + 1, h), nn.ReLU(), nn.Linear(h, h // 2), nn.ReLU(),
                                     nn.Linear(h // 2, 2 * config.latent))
        self.decoder = nn.Sequential(nn.Linear(config.latent + 1, h // 2), nn.ReLU(), nn.Linear(h // 2, h), nn.ReLU(),
                                     nn.Linear(h, GRID_SIZE))

    def encode(self, grid: torch.Tensor, meter: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """grid [B, GRID_SIZE] float 0/1, meter [B, 1] -> (mu, logvar) [B, LATENT] each."""
        mu, logvar = self.encoder(torch.cat([grid, meter], dim=1)).chunk(2, dim=1)
        return mu, logvar.clamp(-8.0, 8.0)

    def logits(self, z: torch.Tensor, meter: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, meter], dim=1))

    def decode(self, z: torch.Tensor, meter: torch.Tensor) -> torch.Tensor:
        """z [B, LATENT], meter [B, 1] -> probabilities [B, GRID_SIZE]."""
        return torch.sigmoid(self.logits(z, meter))

    def forward(self, grid: torch.Tensor, meter: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (logits [B, GRID_SIZE], mu, logvar): z sampled by the reparameterisation."""
        mu, logvar = self.encode(grid, meter)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.logits(z, meter), mu, logvar


def loss_terms(model: PatternVAE, grid: torch.Tensor, meter: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction BCE summed over the grid, KL [B, LATENT] to the unit normal), batch means for BCE."""
    logits, mu, logvar = model(grid, meter)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, grid, reduction="none").sum(1).mean()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return bce, kl


def config_dict(model: PatternVAE) -> dict:
    return asdict(model.config)


def load_band_net(checkpoint, build) -> tuple[torch.nn.Module, dict]:
    """The network `build(**saved config)` with the weights saved at `checkpoint`, in eval mode, and the saved dict;
    weights_only: loading never runs code."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    net = build(**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval(), saved


def load_vae(checkpoint) -> tuple[PatternVAE, dict]:
    """The VAE saved at `checkpoint` (in eval mode) and the saved dict."""
    return load_band_net(checkpoint, lambda **config: PatternVAE(VAEConfig(**config)))


# -- style rules: which bars a named anchor is the mean latent of ----------------------------------------------------
def _onset_cells(grid: np.ndarray, slots: slice) -> np.ndarray:
    return grid[:, slots, ONSET].any(axis=1)


def is_sustained(grid: np.ndarray, beats: int) -> bool:
    """Few starts, long holds: at most three starts in the bar and the bass sounding through most of it."""
    n = bar_cells(beats)
    return int(grid[:n, :, ONSET].sum()) <= 3 and grid[:n, :N_BASS, SOUND].any(axis=1).mean() >= 0.75


def is_waltz(grid: np.ndarray, beats: int) -> bool:
    """3/4, the bass starting on beat 1 only, the comping starting on beat 2 or 3 (a chord after the bass)."""
    if beats != 3:
        return False
    bass, comp = _onset_cells(grid, slice(0, N_BASS)), _onset_cells(grid, slice(N_BASS, None))
    return bool(bass[0] and not bass[4] and not bass[8] and (comp[4] or comp[8]))


def is_arpeggio(grid: np.ndarray, beats: int) -> bool:
    """One chord tone starting on (nearly) every 8th, never two at once, over at least three slots."""
    n = bar_cells(beats)
    starts = grid[:n, :, ONSET].sum(axis=1)
    eighths = starts[0:n:2]
    return bool(starts.max() <= 1 and (eighths == 1).sum() >= len(eighths) - 1 and
                len(set(np.nonzero(grid[:n, :, ONSET])[1].tolist())) >= 3)


def is_walking(grid: np.ndarray, beats: int) -> bool:
    """4/4, a bass start on every beat, on at least three different slots (moving)."""
    if beats != 4:
        return False
    beat_starts = grid[0:CELLS:4, :N_BASS, ONSET]
    slots = {int(np.argmax(row)) for row in beat_starts if row.any()}
    return bool(beat_starts.any(axis=1).all() and len(slots) >= 3)


STYLES = {"sustained": is_sustained, "waltz": is_waltz, "arpeggio": is_arpeggio, "walking": is_walking}
