"""A causal key and chord estimate from pitch-class profiles: the listener when no recogniser model is loaded.

Keys: a hidden Markov model over the 24 keys, filtered note by note, that lets the key change at any
beat (bridge/core/key_tracker.py). Chords: the pitch classes sounding in the current beat matched
against triad and seventh templates; among chords the notes fit equally well (one tune note fits three),
the one the heard key makes likelier wins. `KEY_TEMPLATES` (the Krumhansl-Kessler profiles, for a correlation
with a pitch-class histogram) serve the other modules that name a key from a histogram. Classes follow the
recogniser's (bridge/listen/names.py): key = mode * 12 + tonic (major 0, minor 1); chord = quality * 12 +
root for maj, min, dom7, dim, then one no-chord class.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from sideman.bridge.core.harmony import key_pitch_classes
from sideman.bridge.core.key_tracker import KeyTracker
from sideman.bridge.core.listening import PitchClassTables
from sideman.bridge.listen.names import INTERVALS, N_CHORDS, N_KEYS, NO_CHORD, QUALITIES, chord_index
from sideman.bridge.listen.names import chord_name, key_name  # noqa: F401 - the status line names what it hears with these

MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88], np.float32)
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17], np.float32)


def _key_templates() -> np.ndarray:
    rows = [np.roll(profile, tonic) for profile in (MAJOR_PROFILE, MINOR_PROFILE) for tonic in range(12)]
    t = np.stack(rows)
    t = t - t.mean(axis=1, keepdims=True)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def _chord_templates() -> np.ndarray:
    rows = []
    for quality in QUALITIES:
        intervals = INTERVALS[quality]
        for root in range(12):
            row = np.zeros(12, np.float32)
            row[[(root + i) % 12 for i in intervals]] = 1.0
            rows.append(row)
    rows.append(np.zeros(12, np.float32))
    return np.stack(rows)


KEY_TEMPLATES = _key_templates()
CHORD_TEMPLATES = _chord_templates()

# The chords of a key by degree (semitones above the tonic), quality, and whether it is a primary chord
# (tonic, subdominant, dominant), which a note of the tune most often belongs to; minor has the dominant
# of its harmonic form.
_MAJOR_CHORDS = ((0, "maj", True), (5, "maj", True), (7, "maj", True), (7, "dom7", True), (2, "min", False),
                 (4, "min", False), (9, "min", False), (11, "dim", False))
_MINOR_CHORDS = ((0, "min", True), (5, "min", True), (7, "maj", True), (7, "dom7", True), (3, "maj", False),
                 (8, "maj", False), (10, "maj", False), (2, "dim", False), (11, "dim", False))
# Below the smallest difference of two template scores (0.3), so it only decides between equal fits.
_KEY_FIT = 0.2


def _chords_in_keys() -> np.ndarray:
    """[24, 48] how likely each chord class (no-chord aside) is in each key: 1 primary, 0.5 other, 0 none."""
    out = np.zeros((N_KEYS, N_CHORDS - 1), np.float32)
    for key in range(N_KEYS):
        tonic, minor = key % 12, key >= 12
        for degree, quality, primary in _MINOR_CHORDS if minor else _MAJOR_CHORDS:
            out[key, chord_index((tonic + degree) % 12, quality)] = 1.0 if primary else 0.5
    return out


CHORDS_IN_KEYS = _chords_in_keys()
# A template scores its tones heard (+1 each) minus the notes heard outside it (-0.5 each) and its tones not heard
# (-0.3 each): with n notes heard, h of them in the template and a template of size s, that is
# 1.8 h - 0.5 n - 0.3 s, so one product per step and no temporaries.
_HEARD_WEIGHT = 1.8
_SIZE_COST = 0.3 * CHORD_TEMPLATES[:-1].sum(axis=1)


def pitch_class_tables() -> PitchClassTables:
    """The pitch classes of these key and chord classes (the same classes as the recogniser's)."""
    keys = np.stack([key_pitch_classes(k % 12, k >= 12) for k in range(N_KEYS)])
    neighbours = np.array([[k - k % 12 + (k + 7) % 12, k - k % 12 + (k + 5) % 12] for k in range(N_KEYS)])
    return PitchClassTables(keys, CHORD_TEMPLATES.copy(), neighbours)


class ProfileListener:
    """Steps like the recogniser (sideman.bridge.core.listening.Listener), without a model."""

    def __init__(self, steps_per_beat: int = 4) -> None:
        self.spb = steps_per_beat
        self.keys = KeyTracker()
        self.key_probs = self.keys.probs
        self.chord_probs = np.zeros(N_CHORDS, np.float32)
        self._beat = np.zeros(12, np.float32)
        self._key_fit = np.zeros(N_CHORDS - 1, np.float32)  # scratch: each chord's bonus from the heard key
        self._present = np.zeros(12, np.float32)  # scratch: 1 for the pitch classes heard in this beat
        self._score = np.zeros(N_CHORDS - 1, np.float32)  # scratch: each chord's template score
        self.reset()

    def reset(self) -> None:
        self.keys.reset()
        self._beat.fill(0.0)
        self.chord_probs.fill(0.0)
        self.chord_probs[NO_CHORD] = 1.0

    def snapshot(self) -> tuple[object, ...]:
        """Copies of everything a step reads and writes; `restore()` them to hear a step again."""
        return self.keys.snapshot(), self._beat.copy(), self.chord_probs.copy()

    def restore(self, snapshot: tuple[object, ...]) -> None:
        keys, beat, chord = snapshot
        self.keys.restore(keys)
        self._beat[...] = beat
        self.chord_probs[...] = chord

    def step(self, sounding: Collection[int], onsets: Collection[int], step_in_beat: int) -> None:
        self.keys.step(onsets, step_in_beat == 0)
        if step_in_beat == 0:
            self._beat.fill(0.0)
        for pitch in sounding:
            self._beat[pitch % 12] += 1.0
        if self._beat.any():
            np.sign(self._beat, out=self._present)
            score = self._score
            np.matmul(CHORD_TEMPLATES[:-1], self._present, out=score)
            score *= _HEARD_WEIGHT
            score -= 0.5 * float(self._present.sum())
            score -= _SIZE_COST
            if self.keys.heard:
                np.matmul(self.key_probs, CHORDS_IN_KEYS, out=self._key_fit)
                self._key_fit *= _KEY_FIT
                score += self._key_fit
            best = int(score.argmax())
            self.chord_probs.fill(0.0)
            self.chord_probs[best] = 1.0


_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def parse_key(text: str) -> int | None:
    """'D', 'D major', 'e minor', 'F# minor', 'Bb', 'em' -> the key class; None if it names no key.
    A lower-case letter alone means minor, as in 'e' for e minor."""
    words = text.strip().replace("-", " ").split()
    if not words or len(words) > 2:
        return None
    name, mode = words[0], words[1].lower() if len(words) == 2 else ""
    if mode not in ("", "major", "minor", "maj", "min"):
        return None
    minor = mode in ("minor", "min") or (mode == "" and name[0].islower())
    if mode == "" and len(name) > 1 and name.endswith("m"):  # "Em", "c#m": a chord-style minor key
        name, minor = name[:-1], True
    letter, accidental = name[:1].lower(), name[1:].lower()
    if letter not in _LETTERS or accidental not in ("", "#", "b", "sharp", "flat"):
        return None
    tonic = (_LETTERS[letter] + (1 if accidental in ("#", "sharp") else -1 if accidental in ("b", "flat") else 0)) % 12
    return tonic + (12 if minor else 0)
