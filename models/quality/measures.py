"""What a listener hears in an accompaniment, counted on the 16th-step grid (numpy only).

All measures look at steps 0 .. the tune's last sounding step (parts playing on after the tune ends
are not counted). Counts add up over tunes; `rates` turns them into the table's figures.

- clash: among steps where the tune sounds and some part sounds, the share where a part forms a
  minor/major second, tritone or minor/major seventh with the tune (interval class 1, 2, 6, 10 or 11),
  or a fourth (5) when that part is the lowest part sounding (a fourth over the bass is a dissonance,
  between upper voices it is not). On-beat clash: the same on beat steps only.
- note-in-chord: among the same steps, the share where the tune's pitch class is one the parts sound.
- out of key: the share of part onsets whose pitch class is outside the tune's key (keys.scale), in the
  opening (the bars up to the end of the second full bar of the tune, a pickup included) and after it.
- notes per bar per part: part onsets / (bars x parts); laziest part: the fewest onsets of any part of a
  tune / bars (a part reduced to one held note scores near 0).
- parallels: consecutive fifths or octaves between any two voices, the tune included
  (sideman.models.metrics.parallels), per 100 steps. Crossings: steps where a voice sounds above the
  voice written above it (tune over the first part, each part over the next), per 100 steps.
- diversity: distinct chords (the set of pitch classes the parts sound at a beat) in each whole 8-bar
  window, averaged over windows (a tune shorter than 8 bars is one window).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from sideman.models.metrics import parallels
from sideman.models.quality.grid import Parts, Tune
from sideman.models.quality.keys import scale

DISSONANT = (1, 2, 6, 10, 11)
FOURTH = 5
WINDOW_BARS = 8


@dataclass
class Counts:
    steps: int = 0  # steps measured (the tune's span)
    bars: float = 0.0
    both: int = 0  # steps where the tune and some part sound
    clash: int = 0
    beat_both: int = 0
    beat_clash: int = 0
    in_chord: int = 0
    opening_notes: int = 0
    opening_out: int = 0
    later_notes: int = 0
    later_out: int = 0
    part_notes: int = 0
    part_bars: float = 0.0  # bars x parts
    laziest_notes: int = 0  # per tune, the onsets of its least active part
    parallels: int = 0
    crossings: int = 0
    distinct_chords: int = 0  # summed over 8-bar windows
    windows: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def clash_steps(tune_pitch: np.ndarray, part_pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([T] tune and some part sound, [T] a part clashes with the tune) for [T] tune and [T, P] part pitches."""
    tp = np.asarray(tune_pitch)[:, None]
    pp = np.asarray(part_pitch)
    sounds = (pp >= 0) & (tp >= 0)
    ic = np.abs(pp - tp) % 12
    lowest_pitch = np.where(pp >= 0, pp, np.iinfo(np.int64).max).min(axis=1, keepdims=True)
    lowest = (pp >= 0) & (pp == lowest_pitch)
    bad = sounds & (np.isin(ic, DISSONANT) | ((ic == FOURTH) & lowest))
    return sounds.any(axis=1), bad.any(axis=1)


def in_chord_steps(tune_pitch: np.ndarray, part_pitch: np.ndarray) -> np.ndarray:
    """[T]: the tune sounds and its pitch class is among the parts' sounding pitch classes."""
    tp = np.asarray(tune_pitch)[:, None]
    pp = np.asarray(part_pitch)
    same = (pp >= 0) & (tp >= 0) & ((pp - tp) % 12 == 0)
    return same.any(axis=1)


def opening_end(tune: Tune) -> int:
    """First step after the opening: the end of the second full bar after the tune's first onset."""
    onsets = np.flatnonzero(tune.onset)
    if not len(onsets):
        return 0
    bar = tune.meter.bar_steps
    first = int(onsets[0])
    bars = 2 if first % bar == 0 else 3
    return (first // bar + bars) * bar


def crossings(tune_pitch: np.ndarray, part_pitch: np.ndarray) -> int:
    voices = np.concatenate([np.asarray(tune_pitch)[:, None], part_pitch], axis=1)
    upper, lower = voices[:, :-1], voices[:, 1:]
    return int(np.sum((upper >= 0) & (lower >= 0) & (lower > upper)))


def all_parallels(tune_pitch: np.ndarray, tune_onset: np.ndarray, parts: Parts) -> int:
    pitch = np.concatenate([np.asarray(tune_pitch)[:, None], parts.pitch], axis=1)
    onset = np.concatenate([np.asarray(tune_onset)[:, None], parts.onset], axis=1)
    total = 0
    for i in range(pitch.shape[1]):
        for j in range(i + 1, pitch.shape[1]):
            fifths, octaves = parallels(pitch[:, i], pitch[:, j], onset[:, i], onset[:, j])
            total += fifths + octaves
    return total


def chord_windows(part_pitch: np.ndarray, beat_steps: np.ndarray, window_steps: int, n_steps: int) -> tuple[int, int]:
    """(distinct chords summed over windows, windows): whole windows only, else the whole span as one."""
    n_windows = n_steps // window_steps
    bounds = [(w * window_steps, (w + 1) * window_steps) for w in range(n_windows)] or [(0, n_steps)]
    distinct = 0
    for a, b in bounds:
        chords = {frozenset(int(p) % 12 for p in part_pitch[t] if p >= 0) for t in beat_steps if a <= t < b}
        distinct += len(chords - {frozenset()})
    return distinct, len(bounds)


def measure(tune: Tune, parts: Parts) -> Counts:
    """Count one accompaniment of one tune (parts on the tune's grid)."""
    if parts.pitch.shape[0] < tune.n_steps:
        raise ValueError(f"{tune.name}: parts cover {parts.pitch.shape[0]} steps, the tune {tune.n_steps}")
    span = tune.end
    tp, to = tune.pitch[:span], tune.onset[:span]
    pp, po = parts.pitch[:span], parts.onset[:span]
    meter = tune.meter
    bars = span / meter.bar_steps
    both, bad = clash_steps(tp, pp)
    on_beat = np.arange(span) % meter.steps_per_beat == 0
    in_key = np.array(sorted(scale(tune.key)))
    notes_t, notes_k = np.nonzero(po)
    out = ~np.isin(pp[notes_t, notes_k] % 12, in_key)
    opening = notes_t < opening_end(tune)
    per_part = po.sum(axis=0)
    distinct, windows = chord_windows(pp, np.flatnonzero(on_beat), WINDOW_BARS * meter.bar_steps, span)
    return Counts(
        steps=span, bars=bars, both=int(both.sum()), clash=int(bad.sum()),
        beat_both=int((both & on_beat).sum()), beat_clash=int((bad & on_beat).sum()),
        in_chord=int(in_chord_steps(tp, pp).sum()),
        opening_notes=int(opening.sum()), opening_out=int((out & opening).sum()),
        later_notes=int((~opening).sum()), later_out=int((out & ~opening).sum()),
        part_notes=int(per_part.sum()), part_bars=bars * parts.n_parts,
        laziest_notes=int(per_part.min()) if parts.n_parts else 0,
        parallels=all_parallels(tp, to, Parts(pp, po)), crossings=crossings(tp, pp),
        distinct_chords=distinct, windows=windows)


# (key in `rates`, column title, shown as a percentage)
COLUMNS = (
    ("clash", "clash", True),
    ("beat_clash", "on-beat clash", True),
    ("in_chord", "note in chord", True),
    ("out_of_key_opening", "out of key, bars 1-2", True),
    ("out_of_key_later", "out of key, later", True),
    ("notes_per_bar", "notes/bar/part", False),
    ("laziest_notes_per_bar", "laziest part notes/bar", False),
    ("parallels_per_100", "parallels/100 steps", False),
    ("crossings_per_100", "crossings/100 steps", False),
    ("chords_per_8_bars", "chords/8 bars", False),
)


def rates(c: Counts) -> dict[str, float]:
    def share(a: float, b: float) -> float:
        return a / b if b else float("nan")

    return {
        "clash": share(c.clash, c.both),
        "beat_clash": share(c.beat_clash, c.beat_both),
        "in_chord": share(c.in_chord, c.both),
        "out_of_key_opening": share(c.opening_out, c.opening_notes),
        "out_of_key_later": share(c.later_out, c.later_notes),
        "notes_per_bar": share(c.part_notes, c.part_bars),
        "laziest_notes_per_bar": share(c.laziest_notes, c.bars),
        "parallels_per_100": share(100 * c.parallels, c.steps),
        "crossings_per_100": share(100 * c.crossings, c.steps),
        "chords_per_8_bars": share(c.distinct_chords, c.windows),
    }
