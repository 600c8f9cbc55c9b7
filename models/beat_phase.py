"""Fit the follower's beat-phase model (bridge/assets/beat_phase.npz) on the Nottingham train tunes.

Every melody of the train split is fed, note by note on its 8th grid, through the bridge's own
`PhaseEvidence` (so the features are the bridge's), as written and again with a tenth of its notes
left out (players and the tracker drop notes); each scored note is labelled by its place: on a quarter-note beat
or between two in 2/4, 3/4 and 4/4, or which of the six 8ths of a 6/8 bar (the tune's grid, the one the
beat benchmark scores against). A small network (one tanh hidden layer, then a softmax;
torch, L2) is fitted to those labels. The valid split reports how often
the summed evidence picks the right phase; the test split is never read here.

    python3 -m sideman.models.beat_phase            # writes bridge/assets/beat_phase.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sideman.bridge.core.beat_phase import ASSET, COMPOUND, N_CLASSES, N_FEATURES, SIMPLE, PhaseEvidence, PhaseModel, place

STEPS_PER_EIGHTH = 2
DROP = 0.1
L2 = 1e-4
HIDDEN = 32


def tune_notes(tune) -> tuple[list[int], list[int]]:
    """(8th index, pitch) of the tune's onsets; index 0 is a bar start, so even 8ths are quarter beats."""
    steps = np.flatnonzero(tune.onset)
    return [int(s) // STEPS_PER_EIGHTH for s in steps], [int(tune.pitch[s]) for s in steps]


def truth(tune) -> tuple[int, int]:
    """The tune's hypothesis: its grid starts a bar (and so a beat) at 8th 0."""
    return (COMPOUND, 0) if tune.meter.steps_per_beat == 6 else (SIMPLE, 0)


def scored(ks: list[int], pitches: list[int], model: PhaseModel, hypothesis) -> tuple[list[np.ndarray], list[int]]:
    evidence = PhaseEvidence(model)
    feats, labels = [], []
    for k, p in zip(ks, pitches):
        for kk, f in evidence.add(k, p):
            feats.append(f)
            labels.append(place(kk, hypothesis))
    return feats, labels


def dataset(tunes, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    blank = PhaseModel(np.zeros((1, N_FEATURES)), np.zeros(1), np.zeros((N_CLASSES, 1)), np.zeros(N_CLASSES), np.ones(N_CLASSES))
    xs, ys = [], []
    for tune in tunes:
        ks, pitches = tune_notes(tune)
        for drop in (0.0, DROP):
            keep = [i == 0 or rng.random() >= drop for i in range(len(ks))]
            f, y = scored([k for k, c in zip(ks, keep) if c], [p for p, c in zip(pitches, keep) if c], blank, truth(tune))
            xs += f
            ys += y
    return np.array(xs, dtype=np.float32), np.array(ys, dtype=np.int64)


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2, hidden: int = HIDDEN, iterations: int = 600) -> PhaseModel:
    """Full batch with Adam, an L2 penalty on the weights."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, N_CLASSES))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(iterations):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt), yt) + l2 * sum((m.weight ** 2).sum() for m in (net[0], net[2]))
        loss.backward()
        opt.step()
    prior = np.bincount(y, minlength=N_CLASSES) / len(y)
    first, last = net[0], net[2]
    arrays = [a.detach().double().numpy() for a in (first.weight, first.bias, last.weight, last.bias)]
    return PhaseModel(*arrays, prior)


def phase_accuracy(tunes, model: PhaseModel, notes: int | None) -> dict[str, float]:
    """Share of tunes whose evidence after their first `notes` scored notes (None: all) picks the right phase,
    by meter family."""
    right: dict[str, list[bool]] = {"simple": [], "6/8": []}
    for tune in tunes:
        ks, pitches = tune_notes(tune)
        evidence = PhaseEvidence(model)
        n = 0
        for k, p in zip(ks, pitches):
            n += len(evidence.add(k, p))
            if notes is not None and n >= notes:
                break
        right["6/8" if truth(tune)[0] == COMPOUND else "simple"].append(evidence.llr > 0)
    return {name: float(np.mean(v)) for name, v in right.items() if v}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m sideman.models.beat_phase", description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", type=Path, default=ASSET)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--l2", type=float, default=L2)
    p.add_argument("--hidden", type=int, default=HIDDEN)
    args = p.parse_args(argv)
    from sideman.models.quality.tunes import folk_tunes

    x, y = dataset(folk_tunes("train", None), np.random.default_rng(args.seed))
    print(f"{len(y)} notes from the train tunes", file=sys.stderr)
    model = fit(x, y, args.l2, args.hidden)
    placed = np.array([model.evidence(f, 0.0).argmax() for f in x])
    print(f"train: {100 * np.mean(placed == y):.1f}% of notes placed right", file=sys.stderr)
    valid = folk_tunes("valid", None)
    for notes in (4, 8, 16, None):
        acc = phase_accuracy(valid, model, notes)
        print(f"valid, phase after {notes or 'all'} notes: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in acc.items()),
              file=sys.stderr)
    np.savez(args.output, **{name: getattr(model, name).astype(np.float32) for name in PhaseModel.__dataclass_fields__})
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
