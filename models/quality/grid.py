"""The shared 16th-step grid: a tune, its meter and key, and the parts an accompanist plays under it.

Pitches are MIDI numbers per step, -1 for silence; an onset marks the step where a note starts (a held
note sounds on later steps without onsets). Step 0 is a downbeat: a pickup is padded with silence (a study
may choose to start at the first note instead, tunes.load_set(align=False)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PC_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class Meter:
    steps_per_beat: int  # 4 = quarter-note beats, 6 = dotted quarters (6/8)
    beats_per_bar: int

    @property
    def bar_steps(self) -> int:
        return self.steps_per_beat * self.beats_per_bar

    @property
    def time_signature(self) -> tuple[int, int]:
        """(numerator, denominator) a MIDI file would carry for this meter."""
        if self.steps_per_beat == 6:
            return 3 * self.beats_per_bar, 8
        return self.beats_per_bar, 4


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11
    minor: bool

    @property
    def name(self) -> str:
        return f"{PC_NAMES[self.tonic].lower()} minor" if self.minor else f"{PC_NAMES[self.tonic]} major"


@dataclass(frozen=True)
class Parts:
    """What an accompanist plays: one column per part, from high to low (the last is the bass)."""

    pitch: np.ndarray  # [T, P] int, -1 = silent
    onset: np.ndarray  # [T, P] bool

    @property
    def n_parts(self) -> int:
        return int(self.pitch.shape[1])


@dataclass(frozen=True)
class Tune:
    name: str
    pitch: np.ndarray  # [T] int, -1 = silent
    onset: np.ndarray  # [T] bool
    meter: Meter
    key: Key  # the reference key of the measures (see tunes.py for where it comes from)
    human: Parts | None = None  # the data's own accompaniment, if it has one

    @property
    def n_steps(self) -> int:
        return len(self.pitch)

    @property
    def end(self) -> int:
        """One past the last step where the tune sounds."""
        sounding = np.flatnonzero(self.pitch >= 0)
        return int(sounding[-1]) + 1 if len(sounding) else 0

    def beat_steps(self) -> np.ndarray:
        return np.arange(0, self.n_steps, self.meter.steps_per_beat)


def held_line(pitches: np.ndarray | list[int], steps_per_frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame pitches (-1 silent) -> (pitch, onset) per step; the same pitch in consecutive frames is one
    held note, as the frames carry no onsets."""
    frames = np.asarray(pitches, dtype=np.int64)
    pitch = np.repeat(frames, steps_per_frame)
    starts = (frames >= 0) & np.concatenate([[True], frames[1:] != frames[:-1]])
    onset = np.zeros(len(pitch), dtype=bool)
    onset[::steps_per_frame] = starts
    return pitch, onset


def onsets_from_pitch(pitch: np.ndarray) -> np.ndarray:
    """Onsets of a line whose every pitch change (or start after silence) is a new note ([T] or [T, P])."""
    p = np.asarray(pitch)
    prev = np.concatenate([np.full((1, *p.shape[1:]), -1, dtype=p.dtype), p[:-1]])
    return (p >= 0) & (p != prev)


def pad_front(tune_pitch: np.ndarray, tune_onset: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Silence in front (a pickup then starts mid-bar, so that step 0 is a downbeat)."""
    if steps <= 0:
        return tune_pitch, tune_onset
    shape = (steps, *tune_pitch.shape[1:])
    return (np.concatenate([np.full(shape, -1, dtype=tune_pitch.dtype), tune_pitch]),
            np.concatenate([np.zeros(shape, dtype=bool), tune_onset]))


def silent_parts(n_steps: int, n_parts: int) -> Parts:
    return Parts(np.full((n_steps, n_parts), -1, dtype=np.int64), np.zeros((n_steps, n_parts), dtype=bool))
