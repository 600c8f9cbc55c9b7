"""The variation GAN (MidiNet-like): the next bar's pattern from noise, the chord, the previous bar and the style.

Condition = the chord (root one-hot [12] + quality one-hot [4]), the meter [1] (1.0 = 3/4), the previous bar's grid
[GRID_SIZE] and the style: a pattern-VAE latent [LATENT] (in training the posterior mean of another bar of the same
piece, in the bridge the style knob's latent). Both networks are MLPs that see the whole condition. The generator
proposes 8th notes, the data's resolution: each 8th fills two 16th cells and starts in the first.

`Generator.forward(noise, chord, meter, previous, style)` -> probabilities [B, GRID_SIZE] is the export-ready step the
bridge runs (bridge/band/variation.py). In training the discriminator sees the fake bar binarised at 0.5 with a
straight-through gradient, as the real bars are 0/1, and the generator also matches the discriminator's mean features
on real bars (feature matching), which keeps the two from running away from each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from sideman.bridge.band.grid import CELLS, CELLS_PER_BEAT, GRID_SHAPE, GRID_SIZE, ONSET, SLOTS
from sideman.bridge.band.variation import CHORD_SIZE, chord_vector


@dataclass(frozen=True)
class GANConfig:
    noise: int = 16
    latent: int = 12  # the pattern VAE's latent size
    hidden: int = 256
    features: int = 128  # the discriminator's last hidden layer, matched by the generator


def condition_size(config: GANConfig) -> int:
    return CHORD_SIZE + 1 + GRID_SIZE + config.latent


def bar_mask(meter: torch.Tensor) -> torch.Tensor:
    """[B, 1] meter -> [B, GRID_SIZE] 1 inside the bar (a 3/4 bar's last beat is outside)."""
    last_beat = torch.zeros(GRID_SHAPE)
    last_beat[3 * CELLS_PER_BEAT:CELLS] = 1.0
    return 1.0 - meter * last_beat.reshape(1, GRID_SIZE)


def sixteenths(eighths: torch.Tensor) -> torch.Tensor:
    """[B, CELLS // 2 * SLOTS * 2] per 8th -> [B, GRID_SIZE] per 16th: both cells sound, only the first starts."""
    grid = eighths.reshape(-1, CELLS // 2, 1, SLOTS, 2).expand(-1, -1, 2, -1, -1).reshape(-1, GRID_SIZE)
    second_start = torch.zeros(CELLS // 2, 2, SLOTS, 2)
    second_start[:, 1, :, ONSET] = 1.0
    return grid * (1.0 - second_start.reshape(1, GRID_SIZE))


class Generator(nn.Module):
    def __init__(self, config: GANConfig = GANConfig()) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.net = nn.Sequential(nn.Linear(config.noise + condition_size(config), h), nn.LeakyReLU(0.2),
                                 nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, GRID_SIZE // 2))

    def forward(self, noise: torch.Tensor, chord: torch.Tensor, meter: torch.Tensor, previous: torch.Tensor,
                style: torch.Tensor) -> torch.Tensor:
        """noise [B, NOISE], chord [B, 16], meter [B, 1], previous [B, GRID_SIZE], style [B, LATENT] -> probs [B, GRID_SIZE]
        (zero outside the bar)."""
        x = torch.cat([noise, chord, meter, previous, style], dim=1)
        return sixteenths(torch.sigmoid(self.net(x))) * bar_mask(meter)


class Discriminator(nn.Module):
    def __init__(self, config: GANConfig = GANConfig()) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.body = nn.Sequential(nn.Linear(GRID_SIZE + condition_size(config), h), nn.LeakyReLU(0.2),
                                  nn.Linear(h, config.features), nn.LeakyReLU(0.2))
        self.head = nn.Linear(config.features, 1)

    def forward(self, grid: torch.Tensor, chord: torch.Tensor, meter: torch.Tensor, previous: torch.Tensor,
                style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (logit [B], features [B, FEATURES])."""
        f = self.body(torch.cat([grid, chord, meter, previous, style], dim=1))
        return self.head(f).squeeze(1), f


def hard(probs: torch.Tensor) -> torch.Tensor:
    """0/1 at 0.5 forward, the probabilities' gradient backward (straight-through)."""
    return probs + ((probs > 0.5).float() - probs).detach()


Condition = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # chord, meter, previous, style


def d_loss(g: Generator, d: Discriminator, real: torch.Tensor, cond: Condition, smooth: float = 0.9) -> torch.Tensor:
    """The discriminator's BCE: real bars (one-sided smoothed label) against the generator's, and real bars under a
    mismatched condition (the batch's conditions rolled by one) as fakes, so it must read the condition."""
    noise = torch.randn(len(real), g.config.noise)
    with torch.no_grad():
        fake = hard(g(noise, *cond))
    bce = nn.functional.binary_cross_entropy_with_logits
    real_logit, _ = d(real, *cond)
    fake_logit, _ = d(fake, *cond)
    wrong_logit, _ = d(real, *(c.roll(1, 0) for c in cond))
    return (bce(real_logit, torch.full_like(real_logit, smooth)) + bce(fake_logit, torch.zeros_like(fake_logit))
            + 0.5 * bce(wrong_logit, torch.zeros_like(wrong_logit)))


def g_loss(g: Generator, d: Discriminator, real: torch.Tensor, cond: Condition, matching: float = 1.0,
           seeking: float = 0.0) -> torch.Tensor:
    """Non-saturating adversarial loss plus `matching` times the squared distance of the mean discriminator features,
    plus `seeking` times the mode-seeking term (Mao et al. 2019: two noises under one condition should give bars as
    far apart as the noises are, so the noise is not ignored)."""
    noise = torch.randn(len(real), g.config.noise)
    probs = g(noise, *cond)
    fake_logit, fake_f = d(hard(probs), *cond)
    with torch.no_grad():
        _, real_f = d(real, *cond)
    adversarial = nn.functional.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
    loss = adversarial + matching * (fake_f.mean(0) - real_f.mean(0)).pow(2).sum()
    if seeking:
        other = torch.randn_like(noise)
        apart = (probs - g(other, *cond)).abs().mean() / (noise - other).abs().mean()
        loss = loss + seeking / (apart + 1e-5)
    return loss


def condition(chords: np.ndarray, beats: np.ndarray, previous: np.ndarray, style: np.ndarray) -> Condition:
    """Tensors of a batch: chords [B] index, beats [B] 3/4, previous [B, CELLS, SLOTS, 2] 0/1, style [B, LATENT]."""
    return (torch.from_numpy(np.stack([chord_vector(int(c)) for c in chords])),
            torch.from_numpy((np.asarray(beats) == 3).astype(np.float32)[:, None]),
            torch.from_numpy(np.asarray(previous, np.float32).reshape(len(previous), GRID_SIZE)),
            torch.from_numpy(np.asarray(style, np.float32)))


def config_dict(g: Generator) -> dict:
    return asdict(g.config)


def load_generator(checkpoint) -> tuple[Generator, dict]:
    """The generator saved at `checkpoint` (in eval mode) and the saved dict."""
    from sideman.models.band.vae import load_band_net

    return load_band_net(checkpoint, lambda **config: Generator(GANConfig(**config)))
