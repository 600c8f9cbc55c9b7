"""`python -m benchmarks.key_fusion`: does fusing the recogniser's key belief with the key tracker's help?

Per folk tune of a split (valid unless told), the recogniser's key probabilities at every step (the
checkpoint over the whole tune, which is what stepping it gives) and the key tracker's (the profile
listener stepped through the same notes, as `evaluate-listener` drives it); the fused key is the argmax
of p_cnn^a * p_tracker^(1 - a) (log-linear; renormalising changes no argmax). Prints, per a, the key
accuracy and MIREX score at the end of bars 2 and 8, on all tunes and on O'Neill's + Ryan's alone
(a = 1 is the recogniser, a = 0 the profile listener).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks import run_command
from sideman.models.listen.evaluate import (DEFAULT_CHECKPOINT, evaluation_sets, key_table, predict_probs,
                                           profile_listener_probs)

WEIGHTS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
FLOOR = 1e-30  # a probability the tracker rounds to zero still has a logarithm


def fused_keys(cnn: np.ndarray, tracker: np.ndarray, a: float) -> np.ndarray:
    """[T] argmax of a * log p_cnn + (1 - a) * log p_tracker, per step."""
    return (a * np.log(np.maximum(cnn, FLOOR)) + (1 - a) * np.log(np.maximum(tracker, FLOOR))).argmax(-1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, nargs="?", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--split", choices=("valid", "test"), default="valid")


def study(args: argparse.Namespace) -> int:
    from sideman.models.listen.network import load_listener

    model, _ = load_listener(args.checkpoint)
    keys = evaluation_sets(args.split, progress=False)["keys"]
    tunes = keys["all"]
    cnn = {e.name: p[0] for e, p in zip(tunes, predict_probs(model, [e.features(False) for e in tunes]))}
    tracker = {e.name: profile_listener_probs(e, False)[0] for e in tunes}
    print("tunes (2 / 8 bars): " + ", ".join(f"{g} {sum(len(e.bar_ends) >= 2 for e in keys[g])} / "
                                             f"{sum(len(e.bar_ends) >= 8 for e in keys[g])}" for g in ("all", "oneills+ryans")))
    print("| a | all: acc 2 | MIREX 2 | acc 8 | MIREX 8 | O'Neill's+Ryan's: acc 2 | MIREX 2 | acc 8 | MIREX 8 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for a in WEIGHTS:
        heard = {name: fused_keys(cnn[name], tracker[name], a) for name in cnn}
        cells = []
        for group in ("all", "oneills+ryans"):
            row = key_table(keys[group], lambda e, cut: int(heard[e.name][cut]))
            cells += [f"{row[b][m]:.3f}" for b in ("bar2", "bar8") for m in ("accuracy", "mirex")]
        print(f"| {a:.1f} | " + " | ".join(cells) + " |")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command("python -m benchmarks.key_fusion", add_arguments, study, argv)


if __name__ == "__main__":
    raise SystemExit(main())
