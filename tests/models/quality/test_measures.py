"""Each measure on hand-made grids with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.models.quality.grid import Key, Meter, Parts, Tune, onsets_from_pitch
from sideman.models.quality.measures import (DISSONANT, Counts, clash_steps, in_chord_steps, measure, opening_end,
                                             rates)

_ = -1
C_MAJOR = Key(0, False)


def tune_of(pitch: list[int], meter: Meter = Meter(4, 4), key: Key = C_MAJOR) -> Tune:
    p = np.array(pitch, dtype=np.int64)
    return Tune("t", p, onsets_from_pitch(p), meter, key)


def parts_of(*columns: list[int]) -> Parts:
    p = np.array(columns, dtype=np.int64).T
    return Parts(p, onsets_from_pitch(p))


@pytest.mark.parametrize("ic", range(12))
def test_interval_classes_that_clash_with_an_upper_part(ic):
    # an upper part `ic` semitones under the tune, over a bass two octaves under it
    both, bad = clash_steps(np.array([72]), np.array([[72 - ic, 48]]))
    assert both.tolist() == [True]
    assert bad.tolist() == [ic in (1, 2, 6, 10, 11)]


def test_a_fourth_clashes_only_against_the_lowest_part():
    tune = [72, 72, 72, 72]
    upper = [67, 67, 67, _]  # a fourth under the tune
    bass = [48, 55, 43, _]  # C3: octaves; G3: a fourth (plus an octave) under the tune; G2: the same, lower
    both, bad = clash_steps(np.array(tune), np.array([upper, bass]).T)
    # step 0: the fourth is with the upper part: no clash; steps 1-2: the fourth is with the bass
    assert bad.tolist() == [False, True, True, False]
    assert both.tolist() == [True, True, True, False]


def test_the_lowest_part_is_the_lowest_one_sounding():
    # the bass rests, so the upper part a fourth under the tune is the lowest sounding
    both, bad = clash_steps(np.array([72, 72]), np.array([[67, 67], [48, _]]).T)
    assert bad.tolist() == [False, True]


def test_clash_counts_only_steps_where_tune_and_a_part_sound():
    tune = tune_of([72, 72, 72, _, 72, 72, 72, 72])
    parts = parts_of([71, _, 76, 71, _, 76, 67, 67], [_, _, 48, 48, _, 48, 55, 48])
    # steps sounding together: 0 (71: second), 2 (ok), 5 (ok), 6 (fourth over bass 55), 7 (ok)
    c = measure(tune, parts)
    assert (c.both, c.clash) == (5, 2)
    # beats (4 steps each): steps 0 and 4; step 4 has no part
    assert (c.beat_both, c.beat_clash) == (1, 1)
    assert rates(c)["clash"] == pytest.approx(2 / 5)


def test_note_in_chord():
    same = in_chord_steps(np.array([60, 60, 60, _]), np.array([[64, 55], [67, 48], [_, _], [60, 48]]))
    assert same.tolist() == [False, True, False, False]
    c = measure(tune_of([60, 60, 62]), parts_of([64, 67, 62], [55, 48, 50]))
    assert (c.both, c.in_chord) == (3, 2)


def test_out_of_key_in_the_opening_and_after():
    tune = tune_of([72] * 64)  # four bars of 4/4 from the first step: the opening is bars 1-2 (steps 0-31)
    part = [_] * 64
    for start, pitch in ((0, 66), (4, 67), (40, 70), (44, 72), (48, 64)):  # F#, G | Bb, C, E
        part[start : start + 4] = [pitch] * 4
    c = measure(tune, parts_of(part))
    assert (c.opening_notes, c.opening_out, c.later_notes, c.later_out) == (2, 1, 3, 1)
    r = rates(c)
    assert r["out_of_key_opening"] == 0.5 and r["out_of_key_later"] == pytest.approx(1 / 3)


def test_minor_key_allows_the_raised_sixth_and_seventh():
    tune = tune_of([69] * 16, key=Key(9, True))  # a minor
    c = measure(tune, parts_of([68] * 4 + [66] * 4 + [65] * 4 + [63] * 4))  # G#, F#, F: in; D#: out
    assert (c.opening_notes, c.opening_out) == (4, 1)


def test_a_pickup_belongs_to_the_opening():
    assert opening_end(tune_of([_] * 12 + [72] * 52)) == 48  # pickup in bar 0, then bars 1 and 2
    assert opening_end(tune_of([72] * 64)) == 32


def test_notes_per_bar_and_the_laziest_part():
    tune = tune_of([72] * 32)  # two bars
    busy = [60] * 8 + [62] * 8 + [64] * 8 + [65] * 8  # 4 notes
    held = [48] * 32  # 1 note
    r = rates(measure(tune, parts_of(busy, held)))
    assert r["notes_per_bar"] == pytest.approx(5 / 4)
    assert r["laziest_notes_per_bar"] == pytest.approx(1 / 2)


def test_parallel_octaves_with_the_tune_and_contrary_motion():
    tune = tune_of([72, 72, 74, 74])
    assert measure(tune, parts_of([60, 60, 62, 62])).parallels == 1  # octaves, both up
    assert measure(tune, parts_of([60, 60, 57, 57])).parallels == 0  # contrary motion


def test_parallel_fifths_between_parts():
    tune = tune_of([76, 76, 77, 77])
    # alto C4 -> D4 over bass F3 -> G3: fifth to fifth, both up
    assert measure(tune, parts_of([60, 60, 62, 62], [53, 53, 55, 55])).parallels == 1


def test_crossings_count_voices_above_the_voice_written_above():
    tune = tune_of([67, 67, 67, 67])
    c = measure(tune, parts_of([69, 69, 64, 60], [55, 55, 65, _]))
    assert c.crossings == 3  # steps 0-1: part over tune; step 2: bass over part


def test_diversity_counts_distinct_chords_per_8_bars():
    meter = Meter(1, 4)  # 1-step beats, 4-step bars: an 8-bar window is 32 steps
    tune = tune_of([72] * 64, meter=meter)
    chords = [[60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]] * 8 + [[60, 64, 67]] * 32
    parts = parts_of(*np.array(chords).T.tolist())
    c = measure(tune, parts)
    assert (c.distinct_chords, c.windows) == (3 + 1, 2)
    assert rates(c)["chords_per_8_bars"] == 2.0


def test_steps_after_the_tune_ends_are_not_measured():
    tune = tune_of([72, 72, _, _])
    c = measure(tune, parts_of([71, 71, 71, 71]))
    assert (c.steps, c.both, c.clash, c.part_notes) == (2, 2, 2, 1)


def test_counts_add_up():
    tune = tune_of([72, 72, 74, 74])
    a, b = measure(tune, parts_of([71, 71, 71, 71])), measure(tune, parts_of([67, 67, 67, 67]))
    s = a + b
    assert (s.both, s.clash, s.steps) == (a.both + b.both, a.clash + b.clash, 8)
    assert isinstance(s, Counts)


def test_dissonant_classes_match_the_issue():
    assert DISSONANT == (1, 2, 6, 10, 11)
