"""bridge/listen/names.py: key and chord classes and their names."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.listen.names import (
    N_CHORDS,
    NO_CHORD,
    chord_index,
    chord_name,
    chord_pitch_classes,
    key_index,
    key_name,
    transpose_chord,
    transpose_key,
)


def test_key_names():
    assert key_name(key_index(7, False)) == "G major"
    assert key_name(key_index(4, True)) == "e minor"
    assert key_name(key_index(10, False)) == "Bb major"
    assert key_name(key_index(6, True)) == "f# minor"
    assert len({key_name(k) for k in range(24)}) == 24
    with pytest.raises(ValueError):
        key_name(24)


def test_chord_names_are_spelled_for_the_key():
    assert chord_name(chord_index(7, "maj")) == "G"
    assert chord_name(chord_index(4, "min")) == "Em"
    assert chord_name(chord_index(2, "dom7")) == "D7"
    assert chord_name(chord_index(11, "dim")) == "Bdim"
    assert chord_name(NO_CHORD) == "N.C."
    assert chord_name(chord_index(10, "maj"), key=key_index(5, False)) == "Bb"  # F major: flats
    assert chord_name(chord_index(10, "maj"), key=key_index(11, False)) == "A#"  # B major: sharps
    assert chord_name(chord_index(8, "min"), key=key_index(4, False)) == "G#m"  # E major
    assert chord_name(chord_index(3, "dom7"), key=key_index(7, True)) == "Eb7"  # g minor = Bb major's signature


def test_chord_tones():
    assert chord_pitch_classes(chord_index(2, "dom7")) == {2, 6, 9, 0}
    assert chord_pitch_classes(chord_index(11, "dim")) == {11, 2, 5}
    assert chord_pitch_classes(NO_CHORD) == frozenset()


def test_transposition_keeps_mode_quality_and_no_chord():
    assert transpose_key(key_index(7, True), 7) == key_index(2, True)
    assert transpose_chord(chord_index(11, "dom7"), 2) == chord_index(1, "dom7")
    assert transpose_chord(NO_CHORD, 5) == NO_CHORD
    chords = np.arange(N_CHORDS)
    moved = transpose_chord(chords, 3)
    assert moved[-1] == NO_CHORD and sorted(moved) == list(chords)
