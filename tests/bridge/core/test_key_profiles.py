"""The profile listener: the key and the chord heard so far, causally, in the recogniser's classes."""

from __future__ import annotations

import numpy as np

from sideman.bridge.core.key_profiles import NO_CHORD, ProfileListener, pitch_class_tables
from sideman.bridge.listen.names import chord_name


def hear(listener: ProfileListener, notes: list[int], steps_per_note: int = 4) -> None:
    step = 0
    for pitch in notes:
        for k in range(steps_per_note):
            listener.step([pitch], [pitch] if k == 0 else [], step % 4)
            step += 1


def test_a_tune_in_g_major_is_heard_in_g_major_and_one_in_e_minor_in_e_minor():
    g = ProfileListener()
    hear(g, [67, 71, 74, 72, 71, 69, 67, 66, 67, 74, 71, 67])
    assert int(g.key_probs.argmax()) == 7 and abs(float(g.key_probs.sum()) - 1.0) < 1e-5
    e = ProfileListener()
    hear(e, [64, 67, 71, 64, 66, 67, 63, 64, 71, 67, 66, 64])
    assert int(e.key_probs.argmax()) == 12 + 4


def test_the_chord_of_the_beat_and_no_chord_after_a_reset():
    listener = ProfileListener()
    listener.step([60, 64, 67], [60, 64, 67], 0)
    assert int(listener.chord_probs.argmax()) == 0  # C major
    listener.step([62, 65, 67, 71], [62, 65, 67, 71], 0)
    assert int(listener.chord_probs.argmax()) == 2 * 12 + 7  # G7
    listener.reset()
    assert int(listener.chord_probs.argmax()) == NO_CHORD and np.allclose(listener.key_probs, 1 / 24)


def test_the_tables_name_the_pitch_classes_of_each_class():
    tables = pitch_class_tables()
    assert [pc for pc in range(12) if tables.keys[7, pc]] == [0, 2, 4, 6, 7, 9, 11]  # G major
    assert [pc for pc in range(12) if tables.chords[2 * 12 + 7, pc]] == [2, 5, 7, 11]  # G7
    assert not tables.chords[NO_CHORD].any()


def test_a_lone_tune_note_is_heard_as_the_chord_the_key_makes_likeliest():
    listener = ProfileListener()
    hear(listener, [67, 71, 74, 72, 71, 69, 67, 66, 67])  # G major
    listener.step([71], [71], 0)  # B alone: in G, E, e, B7...; G major's tonic chord
    assert chord_name(int(listener.chord_probs.argmax())) == "G"
    listener.step([64], [64], 0)  # E alone: C (IV) before e minor (vi) and A minor (ii)
    assert chord_name(int(listener.chord_probs.argmax())) == "C"


def test_the_key_never_outweighs_the_notes_a_whole_chord_outside_it_is_heard_as_itself():
    listener = ProfileListener()
    hear(listener, [67, 71, 74, 72, 71, 69, 67, 66, 67])  # G major
    listener.step([65, 69, 72], [65, 69, 72], 0)  # F major: not a chord of G major
    assert chord_name(int(listener.chord_probs.argmax())) == "F"
