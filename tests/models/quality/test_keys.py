"""The key estimate, scales and triads."""

from __future__ import annotations

import numpy as np

from sideman.models.quality.grid import Key
from sideman.models.quality.keys import (diatonic_triads, key_from_signature, krumhansl, running_keys, scale,
                                         triad)


def line(*pitches: int, steps: int = 4) -> np.ndarray:
    return np.repeat(np.array(pitches, dtype=np.int64), steps)


def test_scales_give_their_keys():
    assert krumhansl(line(67, 69, 71, 72, 74, 76, 78, 79, 74, 71, 67)) == Key(7, False)  # G major
    assert krumhansl(line(69, 71, 72, 74, 76, 77, 79, 81, 76, 72, 69)) == Key(9, True)  # a minor
    assert krumhansl(np.array([-1, -1])) == Key(0, False)  # nothing heard: C major


def test_running_keys_never_look_ahead():
    a = line(62, 66, 69, 74, 73, 71, 69)
    b = a.copy()
    b[12:] = line(60, 63, 67, 63)[: len(b) - 12]
    ka, kb = running_keys(a), running_keys(b)
    assert ka[:12] == kb[:12]
    assert ka[-1] == Key(2, False)  # D major by the end


def test_minor_scale_has_the_raised_sixth_and_seventh():
    assert scale(Key(9, True)) == frozenset({9, 11, 0, 2, 4, 5, 6, 7, 8})
    assert scale(Key(0, False)) == frozenset({0, 2, 4, 5, 7, 9, 11})


def test_diatonic_triads_in_preference_order():
    assert diatonic_triads(Key(0, False)) == [(0, 4, 7), (5, 9, 0), (7, 11, 2), (9, 0, 4), (2, 5, 9), (4, 7, 11)]
    assert diatonic_triads(Key(9, True))[:3] == [(9, 0, 4), (2, 5, 9), (4, 8, 11)]  # i iv V (major V)
    assert triad(11, "min") == (11, 2, 6)


def test_key_signature_picks_major_or_relative_minor():
    assert key_from_signature(1, line(67, 71, 74, 79, 74, 71, 67)) == Key(7, False)  # one sharp, G major arpeggio
    assert key_from_signature(1, line(64, 67, 71, 76, 75, 71, 64)) == Key(4, True)  # one sharp, e minor
    assert key_from_signature(-2, line(70, 74, 77, 70)) == Key(10, False)  # two flats: Bb major
