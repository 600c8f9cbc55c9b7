"""Reference accompanists: a held tonic triad, a causal and an offline rule-based harmonizer, and the
data's own human parts. Each is a function (tune, seed) -> Parts on the tune's grid.

Both harmonizers choose one diatonic triad per beat (keys.diatonic_triads) and voice it the same way
(`voice_chords`): the root in the bass, the third and fifth in two inner parts below the tune, each
part moving to the nearest note of the next chord and holding a note the next chord keeps.

- causal: at each beat it knows only the steps up to that beat: the key is the running Krumhansl
  estimate, the tune note is the one sounding at the beat (else the last one heard); it keeps the
  previous chord while that chord holds the note and belongs to the key, else takes the first triad of
  the key holding the note (I, IV, V, vi, ii, iii; minor: i, iv, V, VI, VII, III), else keeps what it has.
- offline: the key of the whole melody, then the cheapest chord sequence by dynamic programming
  (costs in `DPCosts`: tune notes outside the chord, a progression outside `FUNCTIONAL`, any change, a
  chord held for more than a bar, not starting and ending on the tonic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from sideman.models.quality.grid import Parts, Tune, onsets_from_pitch
from sideman.models.quality.keys import diatonic_triads, krumhansl, running_keys, triad

Chord = tuple[int, int, int]
BASS_RANGE = (40, 55)  # E2..G3: more than an octave, so every root has a place
INNER_LOW = 48  # C3
MIN_CEILING = 57  # inner parts keep at least A3 as their top, even under a very low tune


class Accompanist(Protocol):
    def __call__(self, tune: Tune, seed: int) -> Parts: ...


# -- voicing -------------------------------------------------------------------------------------

def _pitches(pc: int, low: int, high: int) -> list[int]:
    first = low + (pc - low) % 12
    return list(range(first, high + 1, 12))


def _inner(chord: Chord, bass: int, ceiling: int, prev: tuple[int, int] | None) -> tuple[int, int]:
    """(upper, lower) inner pitches for the chord's third and fifth: nearest to `prev`, or (first chord)
    as high as possible under the ceiling."""
    low = max(INNER_LOW, bass + 1)
    best, best_cost = None, np.inf
    for a in _pitches(chord[1], low, ceiling):
        for b in _pitches(chord[2], low, ceiling):
            up, lo = max(a, b), min(a, b)
            cost = (2 * ceiling - up - lo) if prev is None else abs(up - prev[0]) + abs(lo - prev[1])
            if cost < best_cost:
                best, best_cost = (up, lo), cost
    if best is None:  # the space under the ceiling is too narrow: use the octave above it
        return _inner(chord, bass, ceiling + 12, prev)
    return best


def last_heard(pitch: np.ndarray) -> np.ndarray:
    """[T]: the tune pitch sounding at each step, else the last one heard before it (-1 before any)."""
    idx = np.where(pitch >= 0, np.arange(len(pitch)), -1)
    idx = np.maximum.accumulate(idx)
    return np.where(idx >= 0, pitch[np.maximum(idx, 0)], -1)


def _ceilings(tune: Tune, lookahead: bool) -> np.ndarray:
    """[beats] the highest pitch the inner parts may take at each beat: under the tune's lowest note in
    the beat (lookahead) or under the note heard at the beat's start (causal)."""
    spb = tune.meter.steps_per_beat
    heard = last_heard(tune.pitch)
    out = []
    for b in tune.beat_steps():
        seg = tune.pitch[b : b + spb] if lookahead else tune.pitch[b : b + 1]
        sounding = seg[seg >= 0]
        lowest = int(sounding.min()) if len(sounding) else int(heard[b]) if heard[b] >= 0 else MIN_CEILING + 1
        out.append(max(lowest - 1, MIN_CEILING))
    return np.array(out, dtype=np.int64)


def voice_chords(tune: Tune, chords: Sequence[Chord | None], lookahead: bool) -> Parts:
    """One chord per beat (None: silent) -> 3 parts (upper inner, lower inner, bass); with `lookahead`
    False nothing after a beat's first step shapes that beat."""
    spb = tune.meter.steps_per_beat
    T = tune.n_steps
    pitch = np.full((T, 3), -1, dtype=np.int64)
    ceilings = _ceilings(tune, lookahead)
    prev_chord: Chord | None = None
    voicing: tuple[int, int, int] | None = None
    for k, chord in enumerate(chords):
        start, stop = k * spb, min((k + 1) * spb, T)
        if chord is None:
            prev_chord = None
            continue
        if chord != prev_chord or voicing is None:
            bass_prev = voicing[2] if voicing else 48
            bass = min(_pitches(chord[0], *BASS_RANGE), key=lambda p: (abs(p - bass_prev), p))
            inner = _inner(chord, bass, int(ceilings[k]), voicing[:2] if voicing else None)
            voicing = (inner[0], inner[1], bass)
        pitch[start:stop] = voicing
        prev_chord = chord
    return Parts(pitch, onsets_from_pitch(pitch))


# -- the accompanists ----------------------------------------------------------------------------

def tonic_triad(tune: Tune, seed: int = 0) -> Parts:
    """The key's tonic triad in close root position just below the tune's lowest note, held from the
    tune's first note to its last."""
    key = krumhansl(tune.pitch)
    chord = triad(key.tonic, "min" if key.minor else "maj")
    sounding = tune.pitch[tune.pitch >= 0]
    top_limit = int(sounding.min()) - 1 if len(sounding) else 71
    root = top_limit - 7 - (top_limit - 7 - chord[0]) % 12  # the highest root whose fifth fits under the tune
    if root < BASS_RANGE[0]:
        root += 12
    third = root + (chord[1] - chord[0]) % 12
    pitch = np.full((tune.n_steps, 3), -1, dtype=np.int64)
    onsets = np.flatnonzero(tune.onset)
    if len(onsets):
        pitch[int(onsets[0]) : tune.end] = (root + 7, third, root)
    return Parts(pitch, onsets_from_pitch(pitch))


def causal_chords(tune: Tune) -> list[Chord | None]:
    keys = running_keys(tune.pitch)
    heard = last_heard(tune.pitch)
    chords: list[Chord | None] = []
    prev: Chord | None = None
    for b in tune.beat_steps():
        if heard[b] < 0:
            chords.append(None)
            continue
        pc = int(heard[b]) % 12
        candidates = diatonic_triads(keys[b])
        if prev is None or pc not in prev or prev not in candidates:
            prev = next((c for c in candidates if pc in c), prev or candidates[0])
        chords.append(prev)
    return chords


def causal_harmonizer(tune: Tune, seed: int = 0) -> Parts:
    return voice_chords(tune, causal_chords(tune), lookahead=False)


# Progressions between positions in the diatonic_triads order that cost nothing (others cost
# DPCosts.progression): major I IV V vi ii iii, minor i iv V VI VII III.
FUNCTIONAL = {
    False: {0: {1, 2, 3, 4, 5}, 1: {0, 2, 4}, 2: {0, 3}, 3: {1, 2, 4}, 4: {2}, 5: {1, 3}},
    True: {0: {1, 2, 3, 4, 5}, 1: {0, 2, 4}, 2: {0, 3}, 3: {1, 2, 4}, 4: {0, 5}, 5: {1, 3}},
}


@dataclass(frozen=True)
class DPCosts:
    beat_note: float = 2.0  # the tune note at the beat is not in the chord
    other_notes: float = 1.0  # per beat's worth of other tune steps not in the chord
    progression: float = 1.0  # a progression outside FUNCTIONAL
    change: float = 0.1  # any chord change, so that a chord that still fits is kept
    stay: float = 0.3  # per beat a chord is held beyond one bar
    not_tonic_start: float = 0.5
    not_tonic_end: float = 1.0


def offline_chords(tune: Tune, costs: DPCosts = DPCosts()) -> list[Chord | None]:
    key = krumhansl(tune.pitch)
    cands = diatonic_triads(key)
    n = len(cands)
    spb, bar_beats = tune.meter.steps_per_beat, tune.meter.beats_per_bar
    beats = tune.beat_steps()
    onsets = np.flatnonzero(tune.onset)
    if not len(onsets):
        return [None] * len(beats)
    first, last = int(onsets[0]) // spb, (tune.end - 1) // spb
    member = np.array([[pc in c for pc in range(12)] for c in cands])  # [n, 12]
    miss = np.zeros((last + 1, n))
    for k in range(first, last + 1):
        seg = tune.pitch[k * spb : (k + 1) * spb]
        for t, p in enumerate(seg):
            if p >= 0:
                weight = costs.beat_note if t == 0 else costs.other_notes / spb
                miss[k] += weight * ~member[:, p % 12]
    trans = np.full((n, n), costs.progression + costs.change)
    for a, goals in FUNCTIONAL[key.minor].items():
        trans[a, list(goals)] = costs.change
    R = 3 * bar_beats  # run lengths past this cost the same as at it
    stay = costs.stay * np.maximum(0, np.arange(R + 1) - bar_beats)  # by run length
    cost = np.full((n, R + 1), np.inf)  # [chord, run length]
    cost[:, 1] = miss[first] + costs.not_tonic_start * (np.arange(n) != 0)
    back = []
    for k in range(first + 1, last + 1):
        new = np.full((n, R + 1), np.inf)
        arg = np.zeros((n, R + 1, 2), dtype=np.int64)
        for c in range(n):
            for r in range(1, R + 1):  # stay on c
                r2 = min(r + 1, R)
                v = cost[c, r] + stay[r2]
                if v < new[c, r2]:
                    new[c, r2], arg[c, r2] = v, (c, r)
            best_from = cost + trans[:, c][:, None]  # move to c from any other chord
            best_from[c] = np.inf
            i = np.unravel_index(np.argmin(best_from), best_from.shape)
            if best_from[i] < new[c, 1]:
                new[c, 1], arg[c, 1] = best_from[i], i
        new += miss[k][:, None]
        cost = new
        back.append(arg)
    cost[1:] += costs.not_tonic_end
    c, r = np.unravel_index(np.argmin(cost), cost.shape)
    path = [int(c)]
    for arg in reversed(back):
        c, r = arg[c, r]
        path.append(int(c))
    path.reverse()
    out: list[Chord | None] = [None] * len(beats)
    for k, ci in zip(range(first, last + 1), path):
        out[k] = cands[ci]
    return out


def offline_harmonizer(tune: Tune, seed: int = 0) -> Parts:
    return voice_chords(tune, offline_chords(tune), lookahead=True)


def human(tune: Tune, seed: int = 0) -> Parts:
    """The data's own accompaniment (Nottingham's chords, Bach's parts)."""
    if tune.human is None:
        raise ValueError(f"{tune.name}: the data has no accompaniment")
    return tune.human
