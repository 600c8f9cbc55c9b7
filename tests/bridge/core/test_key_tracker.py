"""The key tracker: a key heard from a few notes, a new key heard within beats of its notes, state that re-answers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sideman.bridge.core.key_profiles import ProfileListener
from sideman.bridge.core.key_tracker import KeyTracker

C_MAJOR_TUNE = [60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 65, 62, 60, 67, 64, 60]  # 16 quarter notes, 4 bars


def play(listener: ProfileListener, notes: list[int], steps_per_note: int = 4) -> list[int]:
    """Each note a quarter note (one beat); the key heard after each beat."""
    heard = []
    for pitch in notes:
        for k in range(steps_per_note):
            listener.step([pitch], [pitch] if k == 0 else [], k)
        heard.append(int(listener.key_probs.argmax()))
    return heard


def test_after_eight_bars_in_c_a_tritone_jump_is_heard_in_its_new_key_within_two_bars():
    listener = ProfileListener()
    play(listener, C_MAJOR_TUNE * 2)
    assert int(listener.key_probs.argmax()) == 0  # C major
    heard = play(listener, [p + 6 for p in C_MAJOR_TUNE])  # F# major
    assert heard[7] == 6 and heard[-1] == 6, heard


def test_one_note_outside_the_key_does_not_move_it():
    listener = ProfileListener()
    play(listener, C_MAJOR_TUNE)
    heard = play(listener, [61, 60, 62, 64])  # a chromatic neighbour
    assert heard == [0, 0, 0, 0]


def test_a_restored_snapshot_hears_the_next_step_again_the_same():
    listener = ProfileListener()
    play(listener, C_MAJOR_TUNE[:5])
    saved = listener.snapshot()
    play(listener, [66, 68, 70])
    after = listener.key_probs.copy()
    listener.restore(saved)
    play(listener, [66, 68, 70])
    assert np.array_equal(listener.key_probs, after)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 127), max_size=4), st.integers(0, 3)), min_size=1, max_size=400))
def test_the_key_probabilities_stay_a_distribution_whatever_is_played(steps):
    tracker = KeyTracker()
    for onsets, step_in_beat in steps:
        tracker.step(onsets, step_in_beat == 0)
        assert np.isfinite(tracker.probs).all() and abs(float(tracker.probs.sum()) - 1.0) < 1e-4
        assert tracker.probs.min() >= 0.0
