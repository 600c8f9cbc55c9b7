"""The hearing's key doubt: while the key is uncertain, a note some rival key lacks costs the key strength once more."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from sideman.bridge.core.harmony import HarmonyStrengths
from sideman.bridge.core.key_profiles import pitch_class_tables
from sideman.bridge.core.listening import Hearing, KeyDoubt
from sideman.bridge.listen.names import N_CHORDS, N_KEYS, NO_CHORD, chord_index
from sideman.bridge.model.contract import Vocab

V = Vocab()
KEY = 3.0
C_MAJOR, G_MAJOR, A_MINOR, E_MINOR = 0, 7, 12 + 9, 12 + 4
F, F_SHARP, C, C_SHARP, G_SHARP = 65, 66, 60, 61, 68


class FakeListener:
    """Hears whatever key probabilities the test sets."""

    def __init__(self, key_probs: dict[int, float]) -> None:
        self.key_probs = np.zeros(N_KEYS, np.float32)
        self.chord_probs = np.zeros(N_CHORDS, np.float32)
        self.chord_probs[NO_CHORD] = 1.0
        self.set(key_probs)

    def set(self, key_probs: dict[int, float]) -> None:
        self.key_probs.fill(0.0)
        for key, p in key_probs.items():
            self.key_probs[key] = p

    def step(self, sounding: Collection[int], onsets: Collection[int], step_in_beat: int) -> None:
        pass

    def snapshot(self) -> None:
        return None

    def restore(self, snapshot: None) -> None:
        pass

    def reset(self) -> None:
        pass


def hearing(listener: FakeListener, doubt: KeyDoubt, key_lock: int | None = None) -> Hearing:
    return Hearing(listener, pitch_class_tables(), V, 3, HarmonyStrengths(key=KEY), 4, key_lock, doubt=doubt)


def costs(h: Hearing, pitches: list[int]) -> list[float]:
    """What an onset of each pitch costs the top part now."""
    bias = h.bias(None, [None] * 3)
    return [round(-float(bias[0, V.onset(p)]), 4) for p in pitches]


def hear_steps(h: Hearing, n: int, first: int = 0) -> None:
    for step in range(first, first + n):
        h.hear(step, [67])


def test_while_the_key_settles_the_parts_keep_to_the_notes_it_shares_with_its_neighbours_a_fifth_away():
    h = hearing(FakeListener({G_MAJOR: 1.0}), KeyDoubt(settle_steps=8))
    hear_steps(h, 1)
    # G major heard: C (not in D major) and F# (not in C major) cost the key strength; F, which no rival
    # holds, twice.
    assert costs(h, [F, F_SHARP, C, 67, 71]) == [2 * KEY, KEY, KEY, 0.0, 0.0]
    hear_steps(h, 8, first=1)
    assert costs(h, [F, F_SHARP, C, 67, 71]) == [KEY, 0.0, 0.0, 0.0, 0.0]


def test_the_notes_of_the_chord_heard_are_not_in_doubt():
    listener = FakeListener({G_MAJOR: 1.0})
    listener.chord_probs.fill(0.0)
    listener.chord_probs[chord_index(0, "maj")] = 1.0  # the tune sounds C major (IV of G)
    h = hearing(listener, KeyDoubt(settle_steps=8))
    hear_steps(h, 1)
    # C, which D major lacks, is the chord's root: it costs nothing, as under G major alone. F# (not in C
    # major, not in the chord) still costs the key strength, F (in neither rival's scale nor the chord) twice.
    assert costs(h, [C, 64, 67, F_SHARP, F]) == [0.0, 0.0, 0.0, KEY, 2 * KEY]


def test_a_minor_key_settles_among_the_minor_keys_a_fifth_away():
    h = hearing(FakeListener({A_MINOR: 1.0}), KeyDoubt(settle_steps=8))
    hear_steps(h, 1)
    # A minor's scale with both sevenths; e minor lacks F and G#, d minor lacks B and G#; none holds F#.
    assert costs(h, [F, G_SHARP, 71, C, 64, 69, F_SHARP]) == [KEY, KEY, KEY, 0.0, 0.0, 0.0, 2 * KEY]


def test_the_settling_counts_from_the_tunes_first_note_not_from_the_start():
    h = hearing(FakeListener({G_MAJOR: 1.0}), KeyDoubt(settle_steps=4))
    for step in range(10):
        h.hear(step, [])  # silence before the tune
    h.hear(10, [67])
    assert costs(h, [C, F]) == [KEY, 2 * KEY]


def test_keys_heard_as_close_rivals_keep_the_parts_to_the_notes_both_scales_hold_at_any_time_of_the_tune():
    listener = FakeListener({G_MAJOR: 0.5, C_MAJOR: 0.3, E_MINOR: 0.2})
    h = hearing(listener, KeyDoubt(close=0.5))
    hear_steps(h, 100)
    # G and C major rival each other (0.3 >= 0.5 * 0.5), e minor does not (0.2): F and F# cost the key
    # strength on top of what the heard keys' probabilities make them cost.
    assert costs(h, [F, F_SHARP, C_SHARP, C, 67]) == [round(KEY * 1.7, 4), round(KEY * 1.3, 4), 2 * KEY, 0.0, 0.0]
    listener.set({G_MAJOR: 0.8, C_MAJOR: 0.2})  # C major no longer close: each note costs as the keys are heard
    hear_steps(h, 1, first=100)
    assert costs(h, [F, F_SHARP, C]) == [round(KEY * 0.8, 4), round(KEY * 0.2, 4), 0.0]


def test_when_the_likely_keys_share_too_few_notes_the_key_is_unknown_and_the_doubt_gives_way():
    # One note heard: every key holding it about as likely. The doubt would leave the parts only that note;
    # they keep the (thin) cost of the keys as heard instead.
    listener = FakeListener({k: 1 / 14 for k in range(N_KEYS) if pitch_class_tables().keys[k, 0]})
    h = hearing(listener, KeyDoubt(settle_steps=8, close=0.5))
    hear_steps(h, 1)
    cost = costs(h, [F, F_SHARP, C_SHARP, 67])
    assert max(cost) < KEY and cost[0] < cost[2]


def test_without_doubt_the_key_cost_is_the_heard_keys_weighted_by_their_probability():
    h = hearing(FakeListener({G_MAJOR: 0.6, C_MAJOR: 0.4}), KeyDoubt())
    hear_steps(h, 1)
    assert costs(h, [F, F_SHARP, C_SHARP, C]) == [round(KEY * 0.6, 4), round(KEY * 0.4, 4), KEY, 0.0]


def test_a_locked_key_is_not_in_doubt():
    h = hearing(FakeListener({C_MAJOR: 0.5, G_MAJOR: 0.5}), KeyDoubt(settle_steps=8, close=0.5), key_lock=G_MAJOR)
    hear_steps(h, 1)
    assert costs(h, [F, F_SHARP, C]) == [KEY, 0.0, 0.0]  # G major, as without doubt


def test_the_tables_name_each_keys_neighbours_a_fifth_away_in_its_mode():
    neighbours = pitch_class_tables().neighbours
    assert sorted(neighbours[G_MAJOR].tolist()) == [C_MAJOR, 2]
    assert sorted(neighbours[A_MINOR].tolist()) == [12 + 2, E_MINOR]
