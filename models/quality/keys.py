"""Keys and triads: the Krumhansl-Kessler key estimate, each key's scale and its diatonic triads.

The estimate correlates the duration-weighted pitch-class histogram of the notes given with the 24
rotated Krumhansl-Kessler probe-tone profiles and takes the best (ties: the first in C major, C minor,
C# major ... order). A minor key's scale is natural minor plus the raised sixth and seventh, because
minor-key harmony uses the leading tone.
"""

from __future__ import annotations

import numpy as np

from sideman.models.quality.grid import PC_NAMES, Key

MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 9, 10, 11)

# Triads (root offset from the tonic, quality) in the order a harmonizer prefers them.
MAJOR_TRIADS = ((0, "maj"), (5, "maj"), (7, "maj"), (9, "min"), (2, "min"), (4, "min"))  # I IV V vi ii iii
# i iv V VI VII III: the major V for cadences, VII and III for the modal (Aeolian, Dorian) tunes of folk music.
MINOR_TRIADS = ((0, "min"), (5, "min"), (7, "maj"), (8, "maj"), (10, "maj"), (3, "maj"))
THIRDS = {"maj": 4, "min": 3}


def _templates() -> np.ndarray:
    """[24, 12]: row 2*tonic is the major profile rotated to tonic, 2*tonic+1 the minor one."""
    rows = []
    for tonic in range(12):
        rows.append(np.roll(MAJOR_PROFILE, tonic))
        rows.append(np.roll(MINOR_PROFILE, tonic))
    return np.array(rows)


TEMPLATES = _templates()
_CENTRED = TEMPLATES - TEMPLATES.mean(axis=1, keepdims=True)
_NORMS = np.linalg.norm(_CENTRED, axis=1)


def pc_histogram(pitch: np.ndarray) -> np.ndarray:
    """[T] pitches per step (-1 silent) -> [12] steps sounding per pitch class (duration weighting)."""
    p = np.asarray(pitch)
    return np.bincount(p[p >= 0] % 12, minlength=12).astype(float)


def key_of_histogram(hist: np.ndarray) -> Key:
    """The best-correlated key for a pitch-class histogram (C major if it is empty or flat)."""
    h = np.asarray(hist, dtype=float) - np.mean(hist)
    norm = np.linalg.norm(h)
    if norm == 0:
        return Key(0, False)
    k = int(np.argmax(_CENTRED @ h / (_NORMS * norm)))
    return Key(k // 2, bool(k % 2))


def krumhansl(pitch: np.ndarray) -> Key:
    """Key of a whole line."""
    return key_of_histogram(pc_histogram(pitch))


def running_keys(pitch: np.ndarray) -> list[Key]:
    """The key after each step, from steps 0..t only (a causal estimate)."""
    p = np.asarray(pitch)
    counts = np.zeros((len(p), 12))
    sounding = np.flatnonzero(p >= 0)
    counts[sounding, p[sounding] % 12] = 1.0
    return [key_of_histogram(h) for h in np.cumsum(counts, axis=0)]


def scale(key: Key) -> frozenset[int]:
    return frozenset((key.tonic + d) % 12 for d in (MINOR_SCALE if key.minor else MAJOR_SCALE))


def triad(root: int, quality: str) -> tuple[int, int, int]:
    """(root, third, fifth) pitch classes."""
    return (root % 12, (root + THIRDS[quality]) % 12, (root + 7) % 12)


def diatonic_triads(key: Key) -> list[tuple[int, int, int]]:
    """The key's triads in preference order (tonic first)."""
    return [triad(key.tonic + off, q) for off, q in (MINOR_TRIADS if key.minor else MAJOR_TRIADS)]


def key_from_signature(sharps: int, pitch: np.ndarray) -> Key:
    """The notated key: the major key of a signature (sharps > 0, flats < 0) or its relative minor,
    whichever the line correlates with better."""
    major = (7 * sharps) % 12
    hist = pc_histogram(pitch) - np.mean(pc_histogram(pitch))
    rows = (2 * major, 2 * ((major + 9) % 12) + 1)
    scores = [float(_CENTRED[r] @ hist / _NORMS[r]) for r in rows]
    return Key(major, False) if scores[0] >= scores[1] else Key((major + 9) % 12, True)


def chord_name(chord: tuple[int, int, int]) -> str:
    root, third, _ = chord
    return PC_NAMES[root] + ("m" if (third - root) % 12 == 3 else "")
