"""Train the pattern VAE on the train split, measure it on valid/test, find the style anchors, save a checkpoint.

    python3 -m sideman.models.band.train --epochs 12 --out models/default/band-vae.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import numpy as np
import torch

from sideman.bridge.band.grid import GRID_SIZE, bar_cells, binarise
from sideman.bridge.band.style import slerp
from sideman.models.band.extract import Bars, load_bars
from sideman.models.band.vae import STYLES, PatternVAE, VAEConfig, config_dict, load_vae, loss_terms

ACTIVE_KL = 0.01  # a latent dimension whose mean KL is above this carries information


def tensors(bars: Bars) -> tuple[torch.Tensor, torch.Tensor]:
    grid = torch.from_numpy(bars.grids.reshape(len(bars.grids), GRID_SIZE).astype(np.float32))
    meter = torch.from_numpy((bars.beats == 3).astype(np.float32)[:, None])
    return grid, meter


def train(model: PatternVAE, bars: Bars, epochs: int, batch: int = 256, lr: float = 2e-3, warmup: int = 4,
          seed: int = 0, log=print) -> None:
    """Adam on BCE + beta * KL, beta rising linearly from 0 to 1 over the first `warmup` epochs (KL annealing)."""
    torch.manual_seed(seed)
    grid, meter = tensors(bars)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(grid)
    steps = max(1, n // batch)
    for epoch in range(epochs):
        order = torch.randperm(n)
        total = 0.0
        for i in range(steps):
            beta = min(1.0, (epoch + i / steps) / max(warmup, 1e-9)) if warmup else 1.0
            idx = order[i * batch:(i + 1) * batch]
            bce, kl = loss_terms(model, grid[idx], meter[idx])
            loss = bce + beta * kl.sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        log(f"epoch {epoch + 1}: loss {total / steps:.2f}")


@torch.no_grad()
def evaluate(model: PatternVAE, bars: Bars) -> dict:
    """Held-out reconstruction from the posterior mean: per-entry accuracy, per-cell exact accuracy (all slots of a
    cell right, cells inside the bar), and the mean KL per latent dimension."""
    grid, meter = tensors(bars)
    mu, logvar = model.encode(grid, meter)
    probs = model.decode(mu, meter).numpy()
    truth = bars.grids
    rebuilt = np.stack([binarise(p, int(b)) for p, b in zip(probs, bars.beats)])
    inside = np.stack([np.arange(16) < bar_cells(int(b)) for b in bars.beats])  # [N, CELLS]
    cell_ok = (rebuilt == truth).all(axis=(2, 3))
    kl = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean(0).numpy()
    return {"bars": len(truth), "entry_accuracy": float((rebuilt == truth).mean()),
            "cell_accuracy": float(cell_ok[inside].mean()), "bar_exact": float(cell_ok.all(axis=1).mean()),
            "kl_per_dim": [round(float(x), 4) for x in kl], "active_dims": int((kl > ACTIVE_KL).sum())}


@torch.no_grad()
def anchors(model: PatternVAE, bars: Bars) -> dict[str, dict]:
    """Each style's anchor: the posterior mean of the matching bar nearest to the matching bars' mean latent (a real
    pattern, where the decoder is sure; the mean itself may fall between patterns), and how many matched."""
    grid, meter = tensors(bars)
    mu, _ = model.encode(grid, meter)
    out = {}
    for name, rule in STYLES.items():
        hits = np.array([rule(g, int(b)) for g, b in zip(bars.grids, bars.beats)])
        if hits.any():
            zs = mu[torch.from_numpy(hits)]
            medoid = zs[int(torch.argmin((zs - zs.mean(0)).norm(dim=1)))]
            out[name] = {"z": [round(float(x), 5) for x in medoid], "bars": int(hits.sum()),
                         "meter": int(np.bincount(bars.beats[hits]).argmax())}
    return out


@torch.no_grad()
def knob_path(model: PatternVAE, a: list[float], b: list[float], beats: int, points: int = 11) -> dict:
    """Decoded probabilities along the knob: L1 distance to each endpoint's decode at each point, whether they move
    monotonically, and the number of grid entries that differ between the binarised patterns at 0 and 1."""
    meter = torch.full((points, 1), 1.0 if beats == 3 else 0.0)
    z = torch.from_numpy(np.stack([slerp(np.array(a), np.array(b), k) for k in np.linspace(0, 1, points)]))
    probs = model.decode(z, meter).numpy()
    d0 = np.abs(probs - probs[0]).sum(1)
    d1 = np.abs(probs - probs[-1]).sum(1)
    changed = int((binarise(probs[0], beats) != binarise(probs[-1], beats)).sum())
    return {"to_start": [round(float(x), 2) for x in d0], "to_end": [round(float(x), 2) for x in d1],
            "monotonic": bool((np.diff(d0) >= -1e-4).all() and (np.diff(d1) <= 1e-4).all()), "entries_changed": changed}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--latent", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--split", default="valid", help="the held-out split to report (valid while choosing, test once)")
    p.add_argument("--init", metavar="CKPT", help="start from this checkpoint's weights (--epochs 0: only measure it)")
    p.add_argument("--out", default="models/default/band-vae.pt")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_bars, held = load_bars("train"), load_bars(args.split)
    model = PatternVAE(VAEConfig(latent=args.latent))
    if args.init:
        model = load_vae(args.init)[0].train()
    train(model, train_bars, args.epochs, seed=args.seed, log=lambda s: print(s, file=sys.stderr))
    model.eval()
    found = anchors(model, train_bars)
    report = {"split": args.split, **evaluate(model, held), "anchors": {k: v["bars"] for k, v in found.items()}}
    names = list(found)
    report["knob"] = {f"{a}->{b}": knob_path(model, found[a]["z"], found[b]["z"], found[b]["meter"])
                      for i, a in enumerate(names) for b in names[i + 1:]}
    torch.save({"config": config_dict(model), "state": model.state_dict(), "anchors": found, "report": report}, args.out)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
