"""Chord templates: naming the chord of a set of sounding pitch classes, and of a Roman numeral.

`match_chord` is both how accompaniment becomes a chord label (Nottingham, JSB) and the template
baseline the recogniser is measured against: every (root, quality) of `names` scores
    2 x (weight inside the chord) - 2 x (weight outside it) - 0.5 x (chord tones not sounding)
    + 0.5 if the lowest sounding note is the root,
with the weights scaled so the strongest pitch class is 1; ties go to the lower class index
(major before minor before dom7 before dim, C upwards). Silence is no-chord.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sideman.bridge.listen.names import INTERVALS, NO_CHORD, QUALITIES, chord_index

# [48, 12]: row c marks chord c's pitch classes.
TEMPLATES = np.zeros((NO_CHORD, 12), np.float64)
for _q, _quality in enumerate(QUALITIES):
    for _root in range(12):
        TEMPLATES[_q * 12 + _root, [(_root + i) % 12 for i in INTERVALS[_quality]]] = 1.0
ROOTS = np.arange(NO_CHORD) % 12


def match_chord(weights: np.ndarray, lowest: int | None) -> int:
    """The chord index that best explains pitch-class `weights` [12] (>= 0); NO_CHORD if all are 0."""
    weights = np.asarray(weights, np.float64)
    top = weights.max()
    if top <= 0:
        return NO_CHORD
    w = weights / top
    inside = TEMPLATES @ w
    score = 2 * inside - 2 * (w.sum() - inside) - 0.5 * (TEMPLATES @ (w == 0))
    if lowest is not None:
        score = score + 0.5 * (ROOTS == lowest % 12)
    return int(np.argmax(score))


def roman_chord(rn: Any) -> int | None:
    """The chord index of a music21 RomanNumeral, folded as `names` says; None for chords of none of
    the four qualities (augmented sixths and the like), which the scores leave out."""
    root = rn.root().pitchClass
    if rn.isDominantSeventh():
        return chord_index(root, "dom7")
    if rn.isDiminishedSeventh() or rn.isHalfDiminishedSeventh() or rn.isDiminishedTriad():
        return chord_index(root, "dim")
    third = rn.semitonesFromChordStep(3)
    fifth = rn.semitonesFromChordStep(5)
    if third == 4 and fifth in (7, 8, None):
        return chord_index(root, "maj")
    if third == 3 and fifth in (7, None):
        return chord_index(root, "min")
    return None
