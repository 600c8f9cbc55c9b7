"""Musical measures of a harmonization (numpy only: the bridge's measurement code reuses this).

Input is a token grid `[T, 1 + P]` (lead first, then the parts from high to low, the last one being
the bass) in `sideman.bridge.model.contract.Vocab` ids. Everything is counted, not averaged, in `HarmonyCounts`, so
counts of several pieces add up; `summarize` turns them into rates.

- Consonance: at each step, every pair of sounding voices whose interval mod 12 is 0, 3, 4, 7, 8 or 9
  is consonant; 5 (a fourth) is consonant only when neither voice is the bass. Part-lead and part-part
  pairs are counted separately.
- Parallel fifths/octaves: for each pair of voices, at consecutive change points (a step where either
  voice starts a note or falls silent) where both sound, both voices moved in the same direction and the
  interval mod 12 is 7 -> 7 (fifths) or 0 -> 0 (octaves or unisons).
- Crossings: steps where a voice sounds above the voice just above it in the score (adjacent pairs).
- Out of range: onsets outside the voice's [low, high]. Notes per bar: onsets per part / bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Sequence

import numpy as np

from sideman.bridge.model.contract import Vocab, Voice

CONSONANT = frozenset({0, 3, 4, 7, 8, 9})
FOURTH = 5


def sounding(tokens: np.ndarray, vocab: Vocab = Vocab()) -> tuple[np.ndarray, np.ndarray]:
    """[T, ...] tokens, time first -> (pitch sounding at each step or -1, onset bool), both the same shape.
    A hold continues the note before it; a hold after silence, or before anything, is silence."""
    tokens = np.asarray(tokens)
    onset = (tokens >= vocab.onset_offset) & (tokens < vocab.size)
    # What sounds is decided by the last token that is not a hold: an onset's pitch, or silence.
    steps = np.arange(len(tokens)).reshape(-1, *([1] * (tokens.ndim - 1)))
    last = np.maximum.accumulate(np.where(tokens != vocab.hold, steps, -1), axis=0)
    decided = np.take_along_axis(onset, np.maximum(last, 0), axis=0) & (last >= 0)
    at = np.take_along_axis(tokens, np.maximum(last, 0), axis=0)
    pitch = np.where(decided, at.astype(np.int64) - vocab.onset_offset + vocab.pitch_min, -1)
    return pitch, onset


@dataclass
class HarmonyCounts:
    steps: int = 0
    bars: float = 0.0
    lead_pairs: int = 0
    lead_consonant: int = 0
    part_pairs: int = 0
    part_consonant: int = 0
    parallel_fifths: int = 0
    parallel_octaves: int = 0
    crossings: int = 0
    out_of_range: list[int] = field(default_factory=list)  # per part
    onsets: list[int] = field(default_factory=list)  # per part

    def __add__(self, other: "HarmonyCounts") -> "HarmonyCounts":
        out = HarmonyCounts()
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, list):
                setattr(out, f.name, [x + y for x, y in zip(a, b)] if a and b else list(a or b))
            else:
                setattr(out, f.name, a + b)
        return out


def consonant(interval: np.ndarray, with_bass: bool | np.ndarray) -> np.ndarray:
    ic = np.abs(interval) % 12
    return np.isin(ic, list(CONSONANT)) | ((ic == FOURTH) & ~np.asarray(with_bass))


def count_bars(position: np.ndarray | None, n_steps: int, steps_per_bar: int = 16) -> float:
    """Bars touched by the piece: downbeats (position (0, 0)) plus a leading pickup; without positions,
    n_steps / steps_per_bar."""
    if position is None:
        return n_steps / steps_per_bar
    downbeats = int(np.sum((position[:, 0] == 0) & (position[:, 1] == 0)))
    pickup = int(not (position[0, 0] == 0 and position[0, 1] == 0))
    return float(max(1, downbeats + pickup))


def parallels(pa: np.ndarray, pb: np.ndarray, oa: np.ndarray, ob: np.ndarray) -> tuple[int, int]:
    """(parallel fifths, parallel octaves/unisons) between two voices' sounding pitches/onsets."""
    change = oa | ob
    change[1:] |= (pa[1:] != pa[:-1]) | (pb[1:] != pb[:-1])
    change[0] = True
    points = np.flatnonzero(change)
    fifths = octaves = 0
    for t1, t2 in zip(points[:-1], points[1:]):
        if min(pa[t1], pb[t1], pa[t2], pb[t2]) < 0:
            continue
        da, db = pa[t2] - pa[t1], pb[t2] - pb[t1]
        if da == 0 or db == 0 or (da > 0) != (db > 0):
            continue
        i1, i2 = abs(pa[t1] - pb[t1]) % 12, abs(pa[t2] - pb[t2]) % 12
        if i1 == 7 and i2 == 7:
            fifths += 1
        elif i1 == 0 and i2 == 0:
            octaves += 1
    return fifths, octaves


def measure(tokens: np.ndarray, voices: Sequence[Voice], position: np.ndarray | None = None,
            vocab: Vocab = Vocab(), steps_per_bar: int = 16) -> HarmonyCounts:
    """Count the measures of one piece; tokens [T, 1 + P], voices = (lead, *parts), last part = bass."""
    pitch, onset = sounding(tokens, vocab)
    T, N = pitch.shape
    P = N - 1
    bass = N - 1
    c = HarmonyCounts(steps=T, bars=count_bars(position, T, steps_per_bar), out_of_range=[0] * P, onsets=[0] * P)
    for i in range(N):
        for j in range(i + 1, N):
            both = (pitch[:, i] >= 0) & (pitch[:, j] >= 0)
            ok = consonant(pitch[both, i] - pitch[both, j], with_bass=(j == bass))
            if i == 0:
                c.lead_pairs += int(both.sum())
                c.lead_consonant += int(ok.sum())
            else:
                c.part_pairs += int(both.sum())
                c.part_consonant += int(ok.sum())
            f, o = parallels(pitch[:, i], pitch[:, j], onset[:, i], onset[:, j])
            c.parallel_fifths += f
            c.parallel_octaves += o
        if i + 1 < N:
            both = (pitch[:, i] >= 0) & (pitch[:, i + 1] >= 0)
            c.crossings += int(np.sum(both & (pitch[:, i + 1] > pitch[:, i])))
    for k in range(P):
        ons = pitch[onset[:, k + 1], k + 1]
        c.onsets[k] = int(len(ons))
        v = voices[k + 1]
        c.out_of_range[k] = int(np.sum((ons < v.low) | (ons > v.high)))
    return c


def summarize(c: HarmonyCounts, part_names: Sequence[str]) -> dict[str, float]:
    """Rates: consonance shares (0..1), events per 100 steps, notes per bar per part."""
    per100 = 100.0 / max(c.steps, 1)
    pairs = c.lead_pairs + c.part_pairs
    out = {
        "consonance_part_lead": c.lead_consonant / max(c.lead_pairs, 1),
        "consonance_part_part": c.part_consonant / max(c.part_pairs, 1),
        "consonance_all": (c.lead_consonant + c.part_consonant) / max(pairs, 1),
        "parallel_fifths_per_100": c.parallel_fifths * per100,
        "parallel_octaves_per_100": c.parallel_octaves * per100,
        "parallels_per_100": (c.parallel_fifths + c.parallel_octaves) * per100,
        "crossings_per_100": c.crossings * per100,
        "out_of_range_notes": float(sum(c.out_of_range)),
    }
    for name, n in zip(part_names, c.onsets):
        out[f"notes_per_bar_{name}"] = n / max(c.bars, 1e-9)
    return out
