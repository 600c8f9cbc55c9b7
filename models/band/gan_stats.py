"""`python3 -m sideman.models.band.gan_stats [--split valid|test]`: the variation GAN's bars against held-out bars,
the training data, a retrieval baseline and the VAE's own variations (the measures: models/band/bar_stats.py)."""

from __future__ import annotations

import numpy as np

from sideman.bridge.band.grid import binarise
from sideman.models.band.bar_stats import memorisation, retrieval, table


def main(argv=None) -> int:
    """python3 -m sideman.models.band.gan_stats [--split valid|test]: the table of docs/band-gan.md."""
    import argparse

    import torch

    from sideman.models.band.vae import load_vae
    from sideman.models.band.gan import load_generator
    from sideman.models.band.train_gan import VAE_CHECKPOINT, generate, load_pairs, stats_of

    p = argparse.ArgumentParser(description="MuseGAN statistics of the variation GAN's bars on held-out bars")
    p.add_argument("--checkpoint", default="models/default/band-gan.pt")
    p.add_argument("--vae", default=VAE_CHECKPOINT)
    p.add_argument("--split", default="valid", help="the held-out split (valid while choosing, test once)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spread", type=float, default=0.35, help="the VAE variations' latent spread (the engine's "
                   "default spread times temperature)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    vae, _ = load_vae(args.vae)
    g, _ = load_generator(args.checkpoint)
    train, held = load_pairs("train", vae, args.seed), load_pairs(args.split, vae, args.seed)
    picked = train.grids[retrieval(train.chords, train.beats, held.chords, held.beats, args.seed)]
    rng = np.random.default_rng(args.seed)
    meter = torch.from_numpy((held.beats == 3).astype(np.float32)[:, None])

    @torch.no_grad()
    def vae_variations() -> np.ndarray:
        z = held.style + args.spread * rng.standard_normal(held.style.shape).astype(np.float32)
        return np.stack([binarise(q, int(b)) for q, b in zip(vae.decode(torch.from_numpy(z), meter).numpy(), held.beats)])

    def differs(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        return {"noise_differs": float((a != b).any(axis=(1, 2, 3)).mean())}

    decoded, generated = vae_variations(), generate(g, held, args.seed)
    rows = {"training data (train split)": stats_of(train.grids, train),
            f"held-out real bars ({args.split})": {**stats_of(held.grids, held), **memorisation(held.grids, train.grids)},
            "retrieval: a training bar, same chord": {**stats_of(picked, held), **memorisation(picked, train.grids)},
            "VAE variations of the style (variation off)": {**stats_of(decoded, held), **memorisation(decoded, train.grids),
                                                            **differs(decoded, vae_variations())},
            "variation GAN": {**stats_of(generated, held), **memorisation(generated, train.grids),
                              **differs(generated, generate(g, held, args.seed + 1))}}
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
