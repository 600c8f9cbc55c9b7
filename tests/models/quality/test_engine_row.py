"""A model through the offline engine, read back onto the grid (a fake model with known answers)."""

from __future__ import annotations

import numpy as np

from sideman.models.quality.engine_row import EngineAccompanist, melody_midi, tune_notes
from sideman.models.quality.grid import Key, Meter, Tune, held_line
from tests.fakes import FakeStepModel, fake_voicing

_ = -1


def tune_of(beats: list[int], meter: Meter = Meter(4, 4)) -> Tune:
    pitch, onset = held_line(beats, 4)
    return Tune("t", pitch, onset, meter, Key(0, False))


def test_tune_notes_split_held_notes_at_onsets_and_rests():
    pitch = np.array([72, 72, 72, 67, _, 67, 67])
    onset = np.array([True, False, True, True, False, True, False])
    tune = Tune("t", pitch, onset, Meter(4, 4), Key(0, False))
    assert tune_notes(tune) == [(0, 2, 72), (2, 3, 72), (3, 4, 67), (5, 7, 67)]


def test_melody_midi_carries_the_meter_and_the_notes():
    mid = melody_midi(tune_of([72, 67], Meter(6, 2)))
    ts = [m for m in mid.tracks[0] if m.type == "time_signature"][0]
    assert (ts.numerator, ts.denominator) == (6, 8)
    ons = [(m.note, m.time) for m in mid.tracks[1] if m.type == "note_on" and m.velocity > 0]
    assert [n for n, _ in ons] == [72, 67]


def test_engine_parts_are_what_the_model_played_on_the_grid():
    tune = tune_of([72, 67, _, 64])
    parts = EngineAccompanist(model=FakeStepModel())(tune, 0)
    assert parts.pitch.shape == (16, 3)
    assert parts.pitch[0].tolist() == list(fake_voicing(72)) and parts.pitch[3].tolist() == list(fake_voicing(72))
    assert parts.pitch[4].tolist() == list(fake_voicing(67))
    assert (parts.pitch[9:12] == _).all()  # the tune rests, so does the fake (from the step after: `unknown` first)
    assert parts.pitch[12].tolist() == list(fake_voicing(64))
    assert np.flatnonzero(parts.onset[:, 0]).tolist() == [0, 4, 12]


def test_settings_reach_the_engine():
    model = FakeStepModel()
    EngineAccompanist(model=model, settings={"temperature": 1.7})(tune_of([72, 67]), 0)
    assert {c["temperature"] for c in model.calls} == {1.7}


def test_the_listener_chooses_the_engine_s_ears_and_is_loaded_once():
    from sideman.bridge.core.key_profiles import ProfileListener
    from sideman.bridge.listen.recogniser import Recogniser

    for name, kind in (("cnn", Recogniser), ("profile", ProfileListener)):
        play = EngineAccompanist(model=FakeStepModel(), listener=name)
        play(tune_of([72, 67]), 0)
        ears = play.hearing[0]
        play(tune_of([72, 64]), 1)
        assert isinstance(ears, kind) and play.hearing[0] is ears
