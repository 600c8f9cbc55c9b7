"""bridge/listen/features.py: hand-made notes give the expected vectors; transposing is rolling the blocks."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.listen.features import (
    HIGHEST,
    LOWEST,
    N_FEATURES,
    ONSET,
    PHASE,
    PROFILE,
    SOUNDING,
    Hearing,
    frames,
    sequence_features,
    transpose_features,
)


def expected(sounding: set[int], onset: set[int], lowest: int | None, highest: int | None, phase: int) -> np.ndarray:
    """The instant part of a step's features (before the profiles)."""
    v = np.zeros(PROFILE, np.float32)
    for pc in sounding:
        v[SOUNDING + pc] = 1
    for pc in onset:
        v[ONSET + pc] = 1
    if lowest is not None:
        v[LOWEST + lowest] = 1
        v[HIGHEST + highest] = 1
    v[PHASE + phase] = 1
    return v


def test_a_g_major_triad_under_a_struck_d():
    # G2 (43) and B3 (59) held from step 0, D5 (74) struck at step 2: at step 2 (third 16th of the beat)
    notes = [(0, 8, 43), (0, 8, 59), (2, 4, 74)]
    x = sequence_features(notes, 8, np.arange(8) % 4)[:, :PROFILE]
    assert np.array_equal(x[2], expected({7, 11, 2}, {2}, lowest=7, highest=2, phase=2))
    assert np.array_equal(x[0], expected({7, 11}, {7, 11}, lowest=7, highest=11, phase=0))
    assert np.array_equal(x[4], expected({7, 11}, set(), lowest=7, highest=11, phase=0))  # D has ended; nothing struck


def test_silence_is_only_the_beat_phase():
    x = sequence_features([(0, 1, 60)], 3, [1, 2, 3])[:, :PROFILE]
    assert np.array_equal(x[1], expected(set(), set(), None, None, 2))
    assert np.array_equal(x[2], expected(set(), set(), None, None, 3))


def test_a_note_struck_again_is_an_onset_again():
    x = sequence_features([(0, 2, 67), (2, 4, 67)], 4, [0, 1, 2, 3])
    assert [x[t, ONSET + 7] for t in range(4)] == [1, 0, 1, 0]
    assert all(x[t, SOUNDING + 7] == 1 for t in range(4))


def test_the_runtime_step_and_the_training_sequence_agree():
    notes = [(0, 3, 50), (1, 5, 64), (1, 2, 71), (4, 6, 45)]
    x = sequence_features(notes, 6, [3, 0, 1, 2, 3, 0])
    hearing = Hearing()
    buf = np.full(N_FEATURES, 7.0, np.float32)  # a reused buffer is overwritten, not added to
    for t, (sounding, struck) in enumerate(frames(notes, 6)):
        assert np.array_equal(hearing.step(sounding, struck, [3, 0, 1, 2, 3, 0][t], buf), x[t])
    hearing.reset()
    assert np.array_equal(hearing.step(*frames(notes, 1)[0], 3), x[0])


def test_the_profiles_average_each_pitch_class_with_their_half_lives():
    # A sustained A (9) over a bass D (2) for 32 steps, then silence for 32 steps
    x = sequence_features([(0, 32, 57), (0, 32, 50)], 64, np.arange(64) % 4)
    short_sounding, short_lowest, long_sounding = (x[:, PROFILE + 12 * i : PROFILE + 12 * i + 12] for i in range(3))
    assert short_sounding[31, 9] == pytest.approx(0.5, abs=1e-5)  # one half-life of 32 steps
    assert short_lowest[31, 2] == pytest.approx(0.5, abs=1e-5) and short_lowest[31, 9] == 0
    assert long_sounding[31, 9] == pytest.approx(1 - 2 ** (-32 / 128), abs=1e-5)
    assert short_sounding[63, 9] == pytest.approx(0.25, abs=1e-5)  # halved again by 32 silent steps
    assert short_sounding[:, [0, 1, 3, 4, 5, 6, 7, 8, 10, 11]].max() == 0


def test_transposing_the_features_is_transposing_the_notes():
    rng = np.random.default_rng(3)
    notes = [(int(s), int(s + d), int(p)) for s, d, p in zip(rng.integers(0, 40, 30), rng.integers(1, 6, 30), rng.integers(40, 80, 30))]
    phase = np.arange(48) % 4
    for shift in (1, 5, 11):
        moved = [(s, e, p + shift) for s, e, p in notes]
        assert np.array_equal(transpose_features(sequence_features(notes, 48, phase), shift), sequence_features(moved, 48, phase))
