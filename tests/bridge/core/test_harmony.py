"""The harmony bias: key, chord and the tune note as costs on the parts' tokens."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.core.harmony import HarmonyBias, HarmonyStrengths, key_pitch_classes
from sideman.bridge.model.contract import Vocab

V = Vocab()
G_MAJOR = key_pitch_classes(7, minor=False)


def cost(bias: np.ndarray, part: int, pitch: int) -> float:
    return -float(bias[part, V.onset(pitch)])


def test_no_strength_no_bias():
    h = HarmonyBias(V, 3, HarmonyStrengths())
    assert not h.strengths.active
    assert not h.step(G_MAJOR, G_MAJOR, 67, [60, None, 48]).any()


def test_out_of_key_onsets_cost_the_key_strength_in_every_octave():
    h = HarmonyBias(V, 3, HarmonyStrengths(key=2.0))
    bias = h.step(G_MAJOR, None, None, [None] * 3)
    assert cost(bias, 0, 66) == 0.0 and cost(bias, 0, 78) == 0.0  # F#: in G major
    assert cost(bias, 1, 65) == 2.0 and cost(bias, 2, 53) == 2.0  # F natural: not
    assert bias[:, V.rest].tolist() == [0.0, 0.0, 0.0]


def test_a_second_a_tritone_or_a_seventh_with_the_tune_costs_the_clash_strength():
    h = HarmonyBias(V, 3, HarmonyStrengths(clash=5.0))
    bias = h.step(None, None, 67, [None] * 3)  # tune on G4
    for pitch, clashes in ((69, True), (68, True), (61, True), (65, True), (66, True), (64, False), (62, False), (59, False)):
        assert (cost(bias, 0, pitch) == 5.0) == clashes, pitch


def test_a_fourth_below_the_tune_clashes_only_in_the_bass():
    h = HarmonyBias(V, 3, HarmonyStrengths(clash=5.0))
    bias = h.step(None, None, 67, [None] * 3)  # a fourth above the tune is C (pc 0)
    assert cost(bias, 0, 60) == 0.0 and cost(bias, 1, 48) == 0.0
    assert cost(bias, 2, 48) == 5.0


def test_holding_a_note_that_now_clashes_costs_like_striking_it():
    h = HarmonyBias(V, 3, HarmonyStrengths(clash=5.0))
    bias = h.step(None, None, 67, [66, 64, None])
    assert -bias[0, V.hold] == 5.0 and -bias[1, V.hold] == 0.0 and bias[2, V.hold] == 0.0


@pytest.mark.parametrize("tonic, minor, expected", [(0, False, "C D E F G A B"), (9, True, "A B C D E F G G#")])
def test_key_pitch_classes(tonic, minor, expected):
    names = "C C# D D# E F F# G G# A A# B".split()
    scale = key_pitch_classes(tonic, minor)
    assert sorted(expected.split(), key=names.index) == [names[pc] for pc in range(12) if scale[pc]]
