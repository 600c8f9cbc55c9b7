"""Train the variation GAN on consecutive bars of the train split; keep the epoch whose bars' statistics are nearest
the validation split's real bars; save a checkpoint.

    python3 -m sideman.models.band.train_gan --epochs 12 --matching 10 --seeking 0.1 --out models/default/band-gan.pt

Pairs: each bar with accompaniment and the one before it in its piece (a piece's first bar follows an empty grid);
the style of a pair is the pattern VAE's posterior mean of another bar of the same piece (models/default/band-vae.pt).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from sideman.bridge.band.grid import GRID_SHAPE, GRID_SIZE, binarise
from sideman.models.band.vae import load_vae
from sideman.models.band.extract import DATA, SETS, piece_bars
from sideman.models.band.gan import Discriminator, GANConfig, Generator, condition, config_dict, d_loss, g_loss
from sideman.models.band.bar_stats import musegan_stats, same_as_previous

VAE_CHECKPOINT = "models/default/band-vae.pt"


@dataclass(frozen=True)
class Pairs:
    grids: np.ndarray  # [N, CELLS, SLOTS, 2] uint8, the bar to propose
    previous: np.ndarray  # [N, CELLS, SLOTS, 2] uint8, the bar before
    beats: np.ndarray  # [N] 3 or 4
    chords: np.ndarray  # [N] chord index
    style: np.ndarray  # [N, LATENT] float32

    def take(self, idx: np.ndarray) -> "Pairs":
        return Pairs(self.grids[idx], self.previous[idx], self.beats[idx], self.chords[idx], self.style[idx])

    def __len__(self) -> int:
        return len(self.grids)


@torch.no_grad()
def load_pairs(split: str, vae, seed: int = 0, limit: int | None = None, sets: tuple[str, ...] = SETS) -> Pairs:
    """Every bar of a split with the bar before it and a style latent from another bar of its piece."""
    grids, previous, beats, chords, piece = [], [], [], [], []
    songs = 0
    for name in sets:
        with gzip.open(DATA / f"{name}.json.gz", "rt") as f:
            pieces = json.load(f)[split]
        for song in pieces[:limit]:
            before = np.zeros(GRID_SHAPE, np.uint8)
            songs += 1
            for grid, b, chord in piece_bars(song, name):
                grids.append(grid)
                previous.append(before)
                beats.append(b)
                chords.append(chord)
                piece.append(songs)
                before = grid
    grids_a, piece_a = np.stack(grids), np.array(piece)
    flat = torch.from_numpy(grids_a.reshape(len(grids_a), GRID_SIZE).astype(np.float32))
    meter = torch.from_numpy((np.array(beats) == 3).astype(np.float32)[:, None])
    mu = torch.cat([vae.encode(flat[i:i + 4096], meter[i:i + 4096])[0] for i in range(0, len(flat), 4096)]).numpy()
    return Pairs(grids_a, np.stack(previous), np.array(beats), np.array(chords), mu[other_bar(piece_a, seed)])


def other_bar(piece: np.ndarray, seed: int) -> np.ndarray:
    """For each bar, the index of a random other bar of the same piece (itself in a one-bar piece)."""
    rng = np.random.default_rng(seed)
    out = np.arange(len(piece))
    starts = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
    ends = np.r_[starts[1:], len(piece)]
    for a, b in zip(starts, ends):
        if b - a > 1:
            pick = rng.integers(a, b - 1, size=b - a)
            out[a:b] = pick + (pick >= np.arange(a, b))  # skip the bar itself
    return out


@torch.no_grad()
def generate(g: Generator, pairs: Pairs, seed: int = 0) -> np.ndarray:
    """One proposal per pair, binarised as the bridge plays it: [N, CELLS, SLOTS, 2] uint8."""
    torch.manual_seed(seed)
    noise = torch.randn(len(pairs), g.config.noise)
    probs = g(noise, *condition(pairs.chords, pairs.beats, pairs.previous, pairs.style)).numpy()
    return np.stack([binarise(p, int(b)) for p, b in zip(probs, pairs.beats)])


def stats_of(grids: np.ndarray, pairs: Pairs) -> dict[str, float]:
    return {**musegan_stats(grids, pairs.chords, pairs.beats), "same_as_previous": same_as_previous(grids, pairs.previous)}


SCALES = {"empty": 0.05, "pitch_classes": 0.5, "qualified": 0.05, "polyphony": 0.05, "tonal_distance": 0.05,
          "same_as_previous": 0.05}  # what counts as a unit of difference in each statistic


def distance(stats: dict[str, float], real: dict[str, float]) -> float:
    """How far a set of bars' statistics lie from the real bars' (differences in units of SCALES, summed)."""
    return float(sum(abs(stats[k] - real[k]) / s for k, s in SCALES.items()))


def train(g: Generator, d: Discriminator, pairs: Pairs, epochs: int, valid: Pairs | None = None, batch: int = 256,
          lr: float = 2e-4, matching: float = 1.0, seeking: float = 0.0, seed: int = 0, log=print) -> dict:
    """Adam (beta1 0.5) on alternating discriminator and generator steps; after each epoch the generator's bars on
    `valid` are scored against its real bars (distance) and the best epoch's weights are kept."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    real_stats = stats_of(valid.grids, valid) if valid is not None else None
    best = {"epoch": 0, "distance": float("inf"), "state": {k: v.clone() for k, v in g.state_dict().items()}}
    steps = max(1, len(pairs) // batch)
    for epoch in range(1, epochs + 1):
        started, order, totals = time.perf_counter(), rng.permutation(len(pairs)), np.zeros(2)
        g.train()
        for i in range(steps):
            part = pairs.take(order[i * batch:(i + 1) * batch])
            real = torch.from_numpy(part.grids.reshape(len(part), GRID_SIZE).astype(np.float32))
            cond = condition(part.chords, part.beats, part.previous, part.style)
            loss_d = d_loss(g, d, real, cond)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = g_loss(g, d, real, cond, matching, seeking)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            totals += (loss_d.item(), loss_g.item())
        g.eval()
        line = f"epoch {epoch}: d {totals[0] / steps:.3f} g {totals[1] / steps:.3f} ({time.perf_counter() - started:.0f} s)"
        if valid is not None:
            dist = distance(stats_of(generate(g, valid, seed), valid), real_stats)
            line += f" valid distance {dist:.2f}"
            if dist < best["distance"]:
                best = {"epoch": epoch, "distance": dist, "state": {k: v.clone() for k, v in g.state_dict().items()}}
        log(line)
    if valid is not None:
        g.load_state_dict(best["state"])
    return {"epoch": best["epoch"], "valid_distance": best["distance"]}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--matching", type=float, default=10.0, help="weight of the feature-matching term")
    p.add_argument("--seeking", type=float, default=0.1, help="weight of the mode-seeking term")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--vae", default=VAE_CHECKPOINT, help="the pattern VAE whose latents are the style")
    p.add_argument("--out", default="models/default/band-gan.pt")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    vae, _ = load_vae(args.vae)
    pairs, valid = load_pairs("train", vae, args.seed), load_pairs("valid", vae, args.seed)
    config = GANConfig(latent=vae.config.latent)
    g, d = Generator(config), Discriminator(config)
    chosen = train(g, d, pairs, args.epochs, valid, lr=args.lr, matching=args.matching, seeking=args.seeking, seed=args.seed,
                   log=lambda s: print(s, file=sys.stderr))
    report = {"pairs": len(pairs), "valid_pairs": len(valid), **chosen,
              "settings": {"epochs": args.epochs, "lr": args.lr, "matching": args.matching, "seeking": args.seeking,
                           "seed": args.seed}}
    torch.save({"config": config_dict(g), "state": g.state_dict(), "report": report}, args.out)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
