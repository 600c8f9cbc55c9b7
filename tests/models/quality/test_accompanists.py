"""The rule-based accompanists on tiny melodies; the causal one never looks ahead."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.models.quality.accompanists import (causal_chords, causal_harmonizer, human, offline_chords,
                                                 offline_harmonizer, tonic_triad)
from sideman.models.quality.grid import Key, Meter, Tune, held_line
from sideman.models.quality.keys import chord_name, diatonic_triads, krumhansl, triad
from sideman.models.quality.measures import measure, rates

# one note per beat: I I I I | IV IV IV IV | V V V V | I
BEATS = [60, 64, 67, 72, 65, 69, 72, 69, 67, 71, 74, 71, 72]


def tune_of(beat_pitches: list[int], steps_per_beat: int = 4) -> Tune:
    pitch, onset = held_line(beat_pitches, steps_per_beat)
    return Tune("t", pitch, onset, Meter(steps_per_beat, 4), krumhansl(pitch))


def names(chords) -> list[str | None]:
    return [chord_name(c) if c else None for c in chords]


def test_tonic_triad_is_held_in_close_position_under_the_tune():
    tune = tune_of(BEATS)
    parts = tonic_triad(tune, 0)
    assert parts.n_parts == 3
    assert parts.pitch[0].tolist() == [55, 52, 48]  # G3 E3 C3: the fifth under the lowest tune note C4
    assert (parts.pitch[: tune.end] == [55, 52, 48]).all()
    assert parts.onset.sum(axis=0).tolist() == [1, 1, 1]


def test_causal_harmonizer_chooses_a_diatonic_triad_holding_each_beat_note():
    tune = tune_of(BEATS)
    chords = causal_chords(tune)
    assert names(chords) == ["C", "C", "C", "C", "F", "F", "F", "F", "C", "G", "G", "G", "C"]
    for beat, chord in zip(BEATS, chords):
        assert beat % 12 in chord


def test_causal_harmonizer_keeps_a_chord_that_still_fits():
    # E then G: C major holds both, so the chord stays (E minor would also hold them)
    assert names(causal_chords(tune_of([60, 64, 67, 64]))) == ["C"] * 4


def test_causal_harmonizer_never_looks_ahead():
    # a tune whose beats hold two notes, so that a change can fall inside a beat
    tune = tune_of([60, 64, 67, 72, 65, 69, 72, 69, 67, 71, 74, 71, 72, 64, 62, 60], steps_per_beat=2)
    base = causal_harmonizer(tune, 0)
    changed_later = 0
    for at in range(1, tune.end):
        for shift in (1, -12):  # a new pitch class (the chord), an octave lower (the voicing's room)
            pitch = tune.pitch.copy()
            pitch[at:] = np.where(pitch[at:] >= 0, pitch[at:] + shift, -1)
            onset = tune.onset.copy()
            onset[at] = True
            other = causal_harmonizer(Tune("t2", pitch, onset, tune.meter, tune.key), 0)
            assert (base.pitch[:at] == other.pitch[:at]).all(), (at, shift)
            assert (base.onset[:at] == other.onset[:at]).all(), (at, shift)
            changed_later += not (base.pitch[at:] == other.pitch[at:]).all()
    assert changed_later > 0  # what comes later is heard


def test_offline_harmonizer_finds_the_cadence():
    chords = offline_chords(tune_of(BEATS))
    assert names(chords) == ["C"] * 4 + ["F"] * 4 + ["G"] * 4 + ["C"]


def test_offline_harmonizer_knows_the_whole_key_from_the_start():
    # an F major tune opening on E: heard alone, E sounds like the tonic of E major
    tune = tune_of([64, 65, 69, 65, 60, 65, 64, 60])
    f_major = Key(5, False)
    assert krumhansl(tune.pitch) == f_major
    offline, causal = offline_chords(tune), causal_chords(tune)
    assert offline[0] in diatonic_triads(f_major) and 4 in offline[0]
    assert causal[0] == triad(4, "maj")
    assert names(offline)[-2:] == ["C", "F"]  # the cadence


def test_harmonizers_voice_three_parts_under_the_tune_without_clashes_on_chord_tones():
    tune = tune_of(BEATS)
    for play in (causal_harmonizer, offline_harmonizer):
        parts = play(tune, 0)
        sounding = parts.pitch[: tune.end]
        assert parts.n_parts == 3 and (sounding >= 0).all()
        assert (sounding[:, 0] < tune.pitch[: tune.end]).all()  # under the tune
        assert (sounding[:, 0] > sounding[:, 1]).all() and (sounding[:, 1] > sounding[:, 2]).all()
        assert rates(measure(tune, parts))["clash"] == 0.0


def test_voicing_holds_common_tones_and_moves_to_the_nearest_note():
    parts = offline_harmonizer(tune_of(BEATS), 0)
    beats = parts.pitch[::4]
    assert beats[0].tolist() == [55, 52, 48]  # C: G3 E3 C3 under C4
    assert beats[4].tolist() == [60, 57, 53]  # F: C4 A3 F3, each voice a step or two away
    assert parts.onset[::4, 0].tolist()[:5] == [True, False, False, False, True]


def test_melody_silent_before_the_first_beat_note_leaves_the_parts_silent():
    tune = tune_of([-1, -1, 67, 72])
    for play in (causal_harmonizer, offline_harmonizer):
        parts = play(tune, 0)
        assert (parts.pitch[:8] == -1).all() and (parts.pitch[8:] >= 0).all()


def test_human_needs_data_parts():
    with pytest.raises(ValueError, match="no accompaniment"):
        human(tune_of(BEATS), 0)
