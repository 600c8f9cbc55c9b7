"""What the recogniser can answer, as class indices and names: 24 keys and 49 chords.

Keys: index = mode * 12 + tonic pitch class (mode 0 major, 1 minor): 7 is "G major", 16 is "e minor".
Chords: index = quality * 12 + root pitch class for the qualities below, then one no-chord class.
Four qualities, because they are what a player's harmony needs told apart: major and minor triads
carry every folk and hymn harmonisation, the dominant seventh is the most common four-note chord in
both folk accompaniment and chorales and names the key it leads to, and the diminished chord is the
leading-tone chord of chorales and minor tunes. Richer chords fold into the nearest of these
(major seventh -> major, minor seventh -> minor, half-diminished and diminished seventh -> dim,
augmented -> major): a wrong guess among rare colours costs less than a class with too few examples.

Names are spelled for a key when one is given (sharps in sharp keys, flats in flat keys).
"""

from __future__ import annotations

import numpy as np

N_KEYS = 24
MODES = ("major", "minor")
QUALITIES = ("maj", "min", "dom7", "dim")
# Chord tones above the root, per quality (the templates the labellers match).
INTERVALS: dict[str, tuple[int, ...]] = {"maj": (0, 4, 7), "min": (0, 3, 7), "dom7": (0, 4, 7, 10), "dim": (0, 3, 6)}
NO_CHORD = len(QUALITIES) * 12
N_CHORDS = NO_CHORD + 1
NO_CHORD_NAME = "N.C."
_SUFFIX = {"maj": "", "min": "m", "dom7": "7", "dim": "dim"}

_SHARPS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_PLAIN = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Major tonics written with flats (F, Bb, Eb, Ab, Db); the rest with sharps, C with the plain set.
_FLAT_MAJORS = frozenset((5, 10, 3, 8, 1))
_MAJOR_KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_KEY_NAMES = ("c", "c#", "d", "eb", "e", "f", "f#", "g", "g#", "a", "bb", "b")


def key_index(tonic: int, minor: bool) -> int:
    return (1 if minor else 0) * 12 + tonic % 12


def key_tonic(key: int) -> int:
    return key % 12


def key_is_minor(key: int) -> bool:
    return key >= 12


def relative_major(key: int) -> int:
    """The major tonic sharing the key signature (e minor -> G)."""
    return (key_tonic(key) + 3) % 12 if key_is_minor(key) else key_tonic(key)


def key_name(key: int) -> str:
    """'G major', 'e minor' (minor keys lowercase, as in "e minor")."""
    if not 0 <= key < N_KEYS:
        raise ValueError(f"key index {key} outside 0..{N_KEYS - 1}")
    if key_is_minor(key):
        return f"{_MINOR_KEY_NAMES[key_tonic(key)]} minor"
    return f"{_MAJOR_KEY_NAMES[key_tonic(key)]} major"


def chord_index(root: int, quality: str) -> int:
    return QUALITIES.index(quality) * 12 + root % 12


def chord_root(chord: int) -> int | None:
    return None if chord == NO_CHORD else chord % 12


def chord_quality(chord: int) -> str | None:
    return None if chord == NO_CHORD else QUALITIES[chord // 12]


def chord_pitch_classes(chord: int) -> frozenset[int]:
    """The chord's pitch classes ({} for no chord)."""
    if chord == NO_CHORD:
        return frozenset()
    return frozenset((chord % 12 + i) % 12 for i in INTERVALS[QUALITIES[chord // 12]])


def chord_name(chord: int, key: int | None = None) -> str:
    """'G', 'Em', 'D7', 'F#dim', 'N.C.'; roots spelled for `key` if given."""
    if not 0 <= chord < N_CHORDS:
        raise ValueError(f"chord index {chord} outside 0..{N_CHORDS - 1}")
    if chord == NO_CHORD:
        return NO_CHORD_NAME
    if key is None:
        spelling = _PLAIN
    else:
        major = relative_major(key)
        spelling = _PLAIN if major == 0 else _FLATS if major in _FLAT_MAJORS else _SHARPS
    return spelling[chord % 12] + _SUFFIX[QUALITIES[chord // 12]]


def transpose_key(key, shift: int):
    """Key index(es) moved by `shift` semitones (an int or a numpy integer array)."""
    return (key // 12) * 12 + (key + shift) % 12


def transpose_chord(chord, shift: int):
    """Chord index(es) moved by `shift` semitones; no-chord stays (an int or a numpy integer array)."""
    moved = (chord // 12) * 12 + (chord + shift) % 12
    if isinstance(chord, np.ndarray):
        return np.where(chord == NO_CHORD, chord, moved)
    return chord if chord == NO_CHORD else moved
