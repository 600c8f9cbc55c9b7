"""What the recogniser hears at one 16th-note step, as a vector: the one definition training and the bridge share.

Per step, four blocks of 12 pitch classes, the step's place in its beat, and three running
pitch-class profiles (F = 88 values):

    [ 0:12] sounding: the pitch classes of every note sounding at the step (struck now or held), 0/1
    [12:24] onset:    the pitch classes struck at the step, 0/1
    [24:36] lowest:   the pitch class of the lowest sounding note (one-hot; none in silence)
    [36:48] highest:  the pitch class of the highest sounding note (one-hot; none in silence)
    [48:52] phase:    16th within the quarter-note beat (one-hot)
    [52:88] profiles: exponential averages of `sounding` (half-life 2 bars of 4/4), of `lowest` (2 bars)
                      and of `sounding` again (8 bars), from silence at the session's start

Pitch classes, not pitches: the key and the chord do not depend on the octave, and moving every
pitch-class block round by k semitones is exactly a transposition (`transpose_features`).
The profiles are what key finders weigh (how long each pitch class has sounded), handed to the
network ready-made: they summarise the music since the start, beyond the network's own window.
The beat phase is the only metre the recogniser is told: the bar's downbeat is unknown in some of
the training data (the shared Nottingham and JSB sets carry no metre).

`Hearing` makes the features of a session step by step (the profiles are its state); the runtime
steps one `Hearing` as the music comes, and `models/listen` builds its training inputs with
`sequence_features`, which steps a fresh one over a whole piece: the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import numpy as np

STEPS_PER_BEAT = 4
PITCH_BLOCKS = ("sounding", "onset", "lowest", "highest")
SOUNDING, ONSET, LOWEST, HIGHEST = (12 * i for i in range(len(PITCH_BLOCKS)))
PHASE = 12 * len(PITCH_BLOCKS)
# (averaged block, half-life in steps) of each running profile.
PROFILES = ((SOUNDING, 32), (LOWEST, 32), (SOUNDING, 128))
PROFILE = PHASE + STEPS_PER_BEAT  # first column of the profiles
N_FEATURES = PROFILE + 12 * len(PROFILES)
# First column of every 12-wide pitch-class block (all of them move under transposition).
PITCH_CLASS_COLUMNS = (SOUNDING, ONSET, LOWEST, HIGHEST, *(PROFILE + 12 * i for i in range(len(PROFILES))))
# Written into the model's metadata; the runtime refuses a model trained on another layout.
LAYOUT = "pc-sounding-onset-lowest-highest+phase4+profiles(s32,l32,s128)/v2"

_DECAYS = np.array([2.0 ** (-1.0 / half_life) for _, half_life in PROFILES], np.float32)[:, None]

Note = tuple[int, int, int]  # (start_step, end_step, pitch): sounds at steps start..end-1


class Hearing:
    """The features of the successive steps of one session; the running profiles are its state."""

    def __init__(self) -> None:
        self.profiles = np.zeros((len(PROFILES), 12), np.float32)

    def reset(self) -> None:
        """Back to silence."""
        self.profiles.fill(0.0)

    def step(self, sounding: Collection[int], onsets: Collection[int], step_in_beat: int,
             out: np.ndarray | None = None) -> np.ndarray:
        """The F values of the next step (a note struck at the step counts as sounding too); fills `out` if given."""
        if out is None:
            out = np.zeros(N_FEATURES, np.float32)
        else:
            out.fill(0.0)
        low, high = 128, -1
        for pitch in sounding:
            out[SOUNDING + pitch % 12] = 1.0
            low, high = min(low, pitch), max(high, pitch)
        for pitch in onsets:
            out[SOUNDING + pitch % 12] = 1.0
            out[ONSET + pitch % 12] = 1.0
            low, high = min(low, pitch), max(high, pitch)
        if high >= 0:
            out[LOWEST + low % 12] = 1.0
            out[HIGHEST + high % 12] = 1.0
        out[PHASE + step_in_beat % STEPS_PER_BEAT] = 1.0
        self.profiles *= _DECAYS
        for i, (block, _) in enumerate(PROFILES):
            self.profiles[i] += (1.0 - _DECAYS[i, 0]) * out[block : block + 12]
        out[PROFILE:] = self.profiles.reshape(-1)
        return out


def frames(notes: Iterable[Note], n_steps: int) -> list[tuple[list[int], list[int]]]:
    """(sounding pitches, struck pitches) at each of n_steps steps, from (start, end, pitch) notes."""
    sounding: list[list[int]] = [[] for _ in range(n_steps)]
    struck: list[list[int]] = [[] for _ in range(n_steps)]
    for start, end, pitch in notes:
        if start >= n_steps or end <= start:
            continue
        struck[max(start, 0)].append(pitch)
        for t in range(max(start, 0), min(end, n_steps)):
            sounding[t].append(pitch)
    return list(zip(sounding, struck))


def sequence_features(notes: Iterable[Note], n_steps: int, phase: Sequence[int] | np.ndarray) -> np.ndarray:
    """[n_steps, F] float32 features of a whole piece heard from silence; `phase[t]` is step t's 16th within its beat."""
    out = np.zeros((n_steps, N_FEATURES), np.float32)
    hearing = Hearing()
    for t, (now, struck) in enumerate(frames(notes, n_steps)):
        hearing.step(now, struck, int(phase[t]), out[t])
    return out


def transpose_features(x: np.ndarray, shift: int) -> np.ndarray:
    """Features [..., F] of the same music moved up `shift` semitones (each pitch-class block rolled)."""
    out = x.copy()
    for first in PITCH_CLASS_COLUMNS:
        cols = slice(first, first + 12)
        out[..., cols] = np.roll(x[..., cols], shift, axis=-1)
    return out
