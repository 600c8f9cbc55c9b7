"""`sideman train-melody`: train the answer model on folk melodies (CPU, one thread, a time budget).

Random windows of the train stream (models/melody/data.py), each moved by a random transposition that
keeps it in the vocabulary, teach the GRU to predict every step's token from the ones before. The
checkpoint kept is the one with the lowest loss on fixed windows of the valid stream; the test split is
not read here.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from sideman.bridge.model.melody import MELODY_VOCAB
from sideman.models.melody.data import melody_tunes, stream
from sideman.models.melody.network import MelodyConfig, MelodyNet

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "default" / "melody-gru.pt"
WINDOW = 128  # steps per training window: eight 4/4 bars
MAX_SHIFT = 6  # transpositions tried: -MAX_SHIFT..MAX_SHIFT semitones


def windows(tokens: np.ndarray, phase: np.ndarray, starts: np.ndarray) -> tuple[torch.Tensor, ...]:
    """prev [B, W], phase [B, W], target [B, W] of windows beginning at `starts` (>= 1)."""
    idx = starts[:, None] + np.arange(WINDOW)[None]
    return (torch.from_numpy(tokens[idx - 1]), torch.from_numpy(phase[idx]), torch.from_numpy(tokens[idx]))


def transpose(prev: torch.Tensor, target: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each window moved by a random number of semitones that keeps every onset in the vocabulary."""
    v = MELODY_VOCAB
    both = torch.cat([prev, target], dim=1)
    onset = both >= v.onset_offset
    big, small = torch.tensor(10**6), torch.tensor(-10**6)
    lo = torch.where(onset, both, big).min(dim=1).values - v.onset_offset  # lowest onset above pitch_min
    hi = (v.size - 1) - torch.where(onset, both, small).max(dim=1).values  # room below pitch_max
    down = torch.clamp(lo, max=MAX_SHIFT)
    up = torch.clamp(hi, max=MAX_SHIFT)
    u = torch.from_numpy(rng.random(len(prev)))
    shift = (-down + torch.floor(u * (down + up + 1)).long())[:, None]
    move = lambda x: torch.where(x >= v.onset_offset, x + shift, x)  # noqa: E731
    return move(prev), move(target)


def loss_of(net: MelodyNet, prev: torch.Tensor, phase: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logits, _ = net(prev, phase)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


def train(minutes: float, seed: int, cfg: MelodyConfig, batch: int = 64, lr: float = 2e-3) -> tuple[MelodyNet, dict[str, Any]]:
    torch.set_num_threads(1)  # the machine is shared; a GRU this small gains little from more
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tunes = melody_tunes()
    train_toks, train_phase = stream(tunes["train"])
    valid_toks, valid_phase = stream(tunes["valid"])
    valid_starts = np.linspace(1, len(valid_toks) - WINDOW - 1, 256).astype(np.int64)
    valid = windows(valid_toks, valid_phase, valid_starts)
    net = MelodyNet(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    best, best_state, history = float("inf"), None, []
    started, n = time.process_time(), 0
    while time.process_time() - started < minutes * 60:  # CPU time: the same training on a busy shared machine
        net.train()
        prev, phase, target = windows(train_toks, train_phase, rng.integers(1, len(train_toks) - WINDOW, batch))
        prev, target = transpose(prev, target, rng)
        loss = loss_of(net, prev, phase, target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        n += 1
        if n % 200 == 0:
            net.eval()
            with torch.no_grad():
                v = float(loss_of(net, *valid))
            history.append({"batches": n, "train": round(loss.item(), 4), "valid": round(v, 4)})
            print(f"batch {n}: train {loss.item():.3f}, valid {v:.3f} nats/step", file=sys.stderr, flush=True)
            if v < best:
                best, best_state = v, {k: t.clone() for k, t in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    meta = {"valid_nll": best, "batches": n, "minutes": minutes, "seed": seed, "history": history,
            "tunes": {s: len(t) for s, t in tunes.items()}, "steps": {"train": len(train_toks), "valid": len(valid_toks)}}
    return net.eval(), meta


def save(net: MelodyNet, meta: dict[str, Any], path: Path) -> None:
    from sideman.models.checkpoint import save_checkpoint

    save_checkpoint(path, net, meta)


def add_train_melody_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", type=Path, default=DEFAULT_CHECKPOINT, help="checkpoint to write (default: models/default/melody-gru.pt)")
    p.add_argument("--minutes", type=float, default=9.0, help="training budget in CPU minutes (default 9)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=MelodyConfig.hidden)


def cmd_train_melody(args: argparse.Namespace) -> int:
    net, meta = train(args.minutes, args.seed, MelodyConfig(hidden=args.hidden))
    meta["command"] = "sideman " + shlex.join(getattr(args, "argv", None) or sys.argv[1:])
    save(net, meta, args.out)
    print(f"wrote {args.out} (valid {meta['valid_nll']:.3f} nats/step after {meta['batches']} batches)")
    return 0
