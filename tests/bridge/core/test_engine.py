"""The accompaniment core, driven by hand with a fake model whose answers are known in advance."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from sideman.bridge.core.engine import Engine, EngineSettings, handled_before_tick
from sideman.bridge.core.voicing import PartVoicer
from tests.fakes import FakeStepModel, fake_voicing

V = FakeStepModel().vocab
CH = (1, 2, 3)  # 0-based part channels
STEP = 0.125  # 16th at 120 BPM


def on(note, vel=100, ch=0):
    return mido.Message("note_on", note=note, velocity=vel, channel=ch)


def off(note, ch=0):
    return mido.Message("note_off", note=note, velocity=0, channel=ch)


def pedal(down, ch=0):
    return mido.Message("control_change", control=64, value=127 if down else 0, channel=ch)


def make(**kw):
    model = FakeStepModel(**{k: kw.pop(k) for k in ("hold_threshold", "fail_at", "bad_at") if k in kw})
    settings = EngineSettings(part_channels=CH, **kw)
    return Engine(model, settings), model


def tick(engine, k, **kw):
    return engine.tick(k, k * STEP, STEP, **kw)


def notes(msgs):
    """Messages as comparable tuples: ('on'|'off', channel, note)."""
    out = []
    for m in msgs:
        if m.type == "note_on" and m.velocity > 0:
            out.append(("on", m.channel, m.note))
        elif m.type in ("note_on", "note_off"):
            out.append(("off", m.channel, m.note))
        else:
            out.append((m.type, m.channel, getattr(m, "control", None)))
    return out


def strikes(pitches):
    return [("on", ch, p) for ch, p in zip(CH, pitches)]


# -- the grid and the windows ---------------------------------------------------------------------

def test_onset_in_early_window_counts_for_the_tick():
    engine, model = make(early_window=0.03)
    assert engine.handle(on(67), 1 * STEP - 0.02) == []
    out = tick(engine, 1)
    assert model.calls[-1]["lead"] == V.onset(67)
    assert notes(out) == strikes(fake_voicing(67))
    assert engine.sounding == dict(enumerate(fake_voicing(67)))


def test_onset_before_early_window_is_the_previous_steps_truth():
    engine, model = make(early_window=0.03, late_window=0.03)
    tick(engine, 0)  # nothing held: unknown
    assert model.calls[0]["lead"] == V.unknown
    engine.handle(on(67), 0.06)  # between step 0's late window and step 1's early window
    out = tick(engine, 1)
    call = model.calls[-1]
    assert call["prev_lead"] == V.onset(67)  # what really happened in step 0
    assert call["lead"] == V.hold  # the note is sounding and the model has seen it begin
    assert notes(out) == strikes(fake_voicing(67))  # the fake catches up one step late
    assert len(model.calls) == 2  # no re-answer


def test_unknown_when_silent_and_rest_as_prev_lead():
    engine, model = make()
    tick(engine, 0)
    tick(engine, 1)
    assert [c["lead"] for c in model.calls] == [V.unknown, V.unknown]
    assert [c["prev_lead"] for c in model.calls] == [V.rest, V.rest]  # never unknown


def test_late_onset_reanswers_with_the_same_noise_and_state():
    engine, model = make(late_window=0.03)
    assert tick(engine, 0) == []
    out = engine.handle(on(64), 0.02)
    assert len(model.calls) == 2
    first, again = model.calls
    assert again["lead"] == V.onset(64) and first["lead"] == V.unknown
    assert again["count"] == first["count"] == 0  # state restored before answering again
    np.testing.assert_array_equal(again["noise"], first["noise"])
    assert again["prev_parts"] == first["prev_parts"] and again["position"] == first["position"]
    assert notes(out) == strikes(fake_voicing(64))
    assert engine.reanswer_count == 1
    tick(engine, 1)
    assert model.calls[-1]["prev_lead"] == V.onset(64) and model.calls[-1]["lead"] == V.hold
    assert model.calls[-1]["prev_parts"] == tuple(V.onset(p) for p in fake_voicing(64))


def test_reanswer_revoices_only_the_parts_that_changed():
    engine, _ = make(early_window=0.03, late_window=0.03)
    engine.handle(on(60), -0.01)
    out0 = tick(engine, 0)
    assert notes(out0) == strikes(fake_voicing(60))
    # An octave above arrives late (a chord, highest note wins): bass keeps its pitch class.
    out = engine.handle(on(72), 0.01)
    a0, t0, b0 = fake_voicing(60)
    a1, t1, b1 = fake_voicing(72)
    assert b0 == b1 and a0 != a1 and t0 != t1
    assert notes(out) == [("off", CH[0], a0), ("on", CH[0], a1), ("off", CH[1], t0), ("on", CH[1], t1)]
    assert engine.sounding == {0: a1, 1: t1, 2: b1}
    assert engine.reanswer_count == 1 and engine.revoiced_count == 2


def test_reanswer_with_unchanged_tokens_sends_nothing():
    engine, model = make(late_window=0.03, hold_threshold=-100.0)  # fake holds every part that has a line
    # Step 0: parts were resting, so the fake strikes them.
    engine.handle(on(67), 0.0)
    tick(engine, 0)
    engine.handle(off(67), 0.06)
    # Step 1: lead silent -> unknown, prev_lead onset -> fake holds everything; nothing to send.
    assert tick(engine, 1) == []
    # Re-answer with an onset: the fake still holds (threshold) -> no token changes -> nothing sent.
    assert engine.handle(on(69), STEP + 0.01) == []
    assert model.calls[-1]["lead"] == V.onset(69)
    assert engine.sounding == dict(enumerate(fake_voicing(67)))


def test_revoice_to_hold_restrikes_the_note_the_wrong_answer_cut():
    voicer = PartVoicer(V, CH)
    voicer.apply([V.onset(60), V.onset(55), V.onset(40)], [90] * 3)
    wrong = [V.onset(62), V.rest, V.hold]
    out = voicer.apply(wrong, [90] * 3)
    assert notes(out) == [("off", CH[0], 60), ("on", CH[0], 62), ("off", CH[1], 55)]
    out = voicer.revoice(wrong, [V.hold, V.hold, V.hold], [70] * 3)
    assert notes(out) == [("off", CH[0], 62), ("on", CH[0], 60), ("on", CH[1], 55)]
    assert voicer.sounding == [60, 55, 40] and voicer.line == [60, 55, 40]
    out = voicer.revoice([V.hold] * 3, [V.hold, V.hold, V.rest], [70] * 3)
    assert notes(out) == [("off", CH[2], 40)]


def test_revoice_after_silencing_brings_nothing_back():
    voicer = PartVoicer(V, CH)
    voicer.apply([V.onset(60), V.onset(55), V.onset(40)], [90] * 3)
    wrong = [V.onset(62), V.onset(57), V.onset(41)]
    voicer.apply(wrong, [90] * 3)
    voicer.silence()  # panic / stop between the tick and the late note
    assert voicer.revoice(wrong, [V.hold] * 3, [90] * 3) == []
    assert voicer.sounding == [None] * 3


def test_revoice_of_a_muted_part_stays_silent():
    voicer = PartVoicer(V, CH)
    voicer.apply([V.onset(60), V.rest, V.rest], [90] * 3)
    voicer.muted[0] = True
    voicer.silence([0])
    out = voicer.revoice([V.onset(60), V.rest, V.rest], [V.onset(61), V.onset(50), V.rest], [90] * 3)
    assert notes(out) == [("on", CH[1], 50)]
    assert voicer.line[0] == 61 and voicer.sounding[0] is None


def test_onset_after_late_window_waits_for_the_next_step():
    engine, model = make(late_window=0.03)
    tick(engine, 0)
    assert engine.handle(on(64), 0.04) == []
    assert len(model.calls) == 1


def test_no_reanswer_after_stop():
    engine, model = make(late_window=0.03)
    tick(engine, 0)
    engine.stop()
    assert engine.handle(on(64), 0.01) == []
    assert len(model.calls) == 1


def test_zero_windows_count_an_onset_exactly_at_the_tick():
    engine, model = make(early_window=0.0, late_window=0.0)
    engine.handle(on(62), STEP)
    tick(engine, 1)
    assert model.calls[-1]["lead"] == V.onset(62)


def test_window_edges_do_not_depend_on_float_rounding():
    # 0.1 * 3 is 0.30000000000000004: a note 30 ms before it, computed another way, is still in the window.
    engine, model = make(early_window=0.03, late_window=0.0)
    engine.handle(on(62), 0.27)
    engine.tick(3, 0.1 * 3, 0.1)
    assert model.calls[-1]["lead"] == V.onset(62)
    assert handled_before_tick(0.3, 0.1 * 3) and handled_before_tick(0.1 * 3, 0.3)


def test_position_from_step_and_bar():
    engine, model = make()
    for k in (0, 5, 15, 16, 47):
        tick(engine, k, beats_per_bar=3)
    assert [c["position"] for c in model.calls] == [(0, 0), (1, 1), (3, 0), (0, 1), (3, 2)]
    tick(engine, 4 * 11, beats_per_bar=12)  # 12/8 -> beat 11, clipped to max_beats_in_bar - 1
    assert model.calls[-1]["position"] == (0, 7)


# -- input: policies, pedal, folding, channel ---------------------------------------------------------

@pytest.mark.parametrize("policy,expected", [("highest", 72), ("lowest", 64), ("latest", 67)])
def test_lead_policy(policy, expected):
    engine, model = make(lead_policy=policy)
    for n in (64, 72, 67):
        engine.handle(on(n), -0.01)
    tick(engine, 0)
    assert model.calls[-1]["lead"] == V.onset(expected)


def test_release_of_the_lead_reveals_a_held_key_as_an_onset():
    engine, model = make()
    engine.handle(on(72), -0.01)
    tick(engine, 0)
    engine.handle(on(71), 0.05)  # lower: the lead stays 72
    engine.handle(off(72), 0.06)  # legato release: 71 becomes the lead
    tick(engine, 1)
    assert model.calls[-1]["prev_lead"] == V.onset(71)
    assert model.calls[-1]["lead"] == V.hold


def test_sustain_pedal_defers_the_lead_note_off():
    engine, model = make()
    engine.handle(pedal(True), -0.5)
    engine.handle(on(67), -0.01)
    tick(engine, 0)
    engine.handle(off(67), 0.05)
    tick(engine, 1)
    assert model.calls[-1]["lead"] == V.hold
    engine.handle(on(65), 2 * STEP - 0.01)  # a lower key with the pedal down still takes over
    tick(engine, 2)
    assert model.calls[-1]["lead"] == V.onset(65)
    engine.handle(off(65), 0.3)
    engine.handle(pedal(False), 0.31)
    tick(engine, 3)
    assert model.calls[-1]["lead"] == V.unknown


def test_unmatched_note_off_and_same_note_twice():
    engine, model = make()
    engine.handle(off(50), -0.2)
    engine.handle(on(67), -0.01)
    engine.handle(on(67), -0.005)
    tick(engine, 0)
    assert model.calls[-1]["lead"] == V.onset(67)
    engine.handle(off(67), 0.05)
    tick(engine, 1)
    assert model.calls[-1]["lead"] == V.unknown


def test_lead_outside_range_is_folded_by_octaves():
    engine, model = make()
    engine.handle(on(40), -0.01)  # E2 -> E4 (lead range 60..81)
    tick(engine, 0)
    assert model.calls[-1]["lead"] == V.onset(64)
    engine.handle(on(100), STEP - 0.01)  # E7 -> E5 (highest of 40 and 100)
    tick(engine, 1)
    assert model.calls[-1]["lead"] == V.onset(76)


def test_input_channel_filter():
    engine, model = make(input_channel=2)
    engine.handle(on(67, ch=0), -0.01)
    tick(engine, 0)
    assert model.calls[-1]["lead"] == V.unknown
    engine.handle(on(69, ch=2), STEP - 0.01)
    tick(engine, 1)
    assert model.calls[-1]["lead"] == V.onset(69)


def test_velocities_follow_the_player_scaled_and_clamped():
    engine, _ = make(part_velocity_scale=(0.5, 1.0, 3.0))
    for k in range(10):
        engine.handle(on(67, vel=120), k * STEP - 0.01)
        engine.handle(off(67), k * STEP + 0.05)
        out = tick(engine, k)
    vel = {m.channel: m.velocity for m in out if m.type == "note_on"}
    assert vel[CH[2]] == 127  # clamped
    assert 55 <= vel[CH[0]] <= 60 and 110 <= vel[CH[1]] <= 120  # the average has moved up from 80 towards 120


# -- output -------------------------------------------------------------------------------------

def test_new_onset_ends_the_previous_note_on_the_same_channel_first():
    engine, _ = make()
    engine.handle(on(67), -0.01)
    tick(engine, 0)
    engine.handle(on(69), STEP - 0.01)
    out = tick(engine, 1)
    old, new = fake_voicing(67), fake_voicing(69)
    expected = []
    for ch, a, b in zip(CH, old, new):
        expected += [("off", ch, a), ("on", ch, b)]
    assert notes(out) == expected


def test_rest_ends_the_sounding_note():
    engine, _ = make()
    engine.handle(on(67), -0.01)
    tick(engine, 0)
    engine.handle(off(67), 0.05)
    tick(engine, 1)  # unknown after an onset: fake holds
    tick(engine, 2)  # unknown after a rest: fake rests
    assert engine.sounding == {}


# -- controls -------------------------------------------------------------------------------------

def test_disable_silences_keeps_stepping_and_returns_at_next_onset():
    engine, model = make()
    engine.handle(on(67), -0.01)
    tick(engine, 0)
    out = engine.set_enabled(False)
    assert sorted(notes(out)) == sorted(("off", ch, p) for ch, p in zip(CH, fake_voicing(67)))
    assert tick(engine, 1) == [] and len(model.calls) == 2  # still stepping, silently
    assert engine.set_enabled(True) == []
    assert tick(engine, 2) == []  # hold: nothing comes back mid-note
    engine.handle(on(69), 3 * STEP - 0.01)
    assert notes(tick(engine, 3)) == strikes(fake_voicing(69))


def test_mute_one_part():
    engine, _ = make()
    engine.handle(on(67), -0.01)
    tick(engine, 0)
    assert notes(engine.set_muted(2, True)) == [("off", CH[2], fake_voicing(67)[2])]
    engine.handle(on(69), STEP - 0.01)
    out = notes(tick(engine, 1))
    assert all(ch != CH[2] for _, ch, _ in out)
    engine.set_muted(2, False)
    engine.handle(on(71), 2 * STEP - 0.01)
    assert ("on", CH[2], fake_voicing(71)[2]) in notes(tick(engine, 2))


def test_parts_muted_in_the_settings_start_muted_and_come_back_when_unmuted():
    engine, _ = make(muted_parts=(0, 2))
    engine.handle(on(67), -0.01)
    assert notes(tick(engine, 0)) == [("on", CH[1], fake_voicing(67)[1])]
    assert engine.muted(0) and not engine.muted(1) and engine.muted(2)
    engine.set_muted(0, False)
    engine.handle(on(69), STEP - 0.01)
    assert ("on", CH[0], fake_voicing(69)[0]) in notes(tick(engine, 1))
    with pytest.raises(ValueError, match="muted_parts must be part indices 0..2"):
        make(muted_parts=(3,))


def test_panic_sends_offs_and_all_notes_off_and_forgets_held_keys():
    engine, model = make()
    engine.handle(on(67), -0.01)
    tick(engine, 0)
    out = notes(engine.panic())
    assert out[:3] == [("off", ch, p) for ch, p in zip(CH, fake_voicing(67))]
    assert out[3:] == [("control_change", ch, 123) for ch in CH]
    tick(engine, 1)
    assert model.calls[-1]["lead"] == V.unknown
    assert engine.sounding == {}


def test_stop_silences_and_the_engine_stays_usable():
    engine, _ = make()
    engine.handle(on(67), -0.01)
    tick(engine, 0)
    assert len(engine.stop()) == 3 and engine.sounding == {}
    assert engine.stop() == []
    engine.handle(on(69), STEP - 0.01)
    assert notes(tick(engine, 1)) == strikes(fake_voicing(69))


def test_reset_starts_the_song_again():
    engine, model = make()
    engine.handle(on(67), -0.01)
    tick(engine, 0)
    tick(engine, 1)
    engine.reset()
    assert model.resets == 1
    out = tick(engine, 0)  # key still held: the model has not seen it begin, so it is an onset again
    call = model.calls[-1]
    assert call["lead"] == V.onset(67) and call["prev_lead"] == V.rest and call["prev_parts"] == (V.rest,) * 3
    assert call["count"] == 0
    assert sorted(engine.sounding.values()) == sorted(fake_voicing(67))
    assert len([m for m in out if m.type == "note_on"]) == 3


def test_temperature_reaches_the_model():
    engine, model = make(temperature=0.8)
    engine.set_temperature(1.3)
    tick(engine, 0)
    assert model.calls[-1]["temperature"] == pytest.approx(1.3)
    with pytest.raises(ValueError):
        engine.set_temperature(0.0)


# -- faults ------------------------------------------------------------------------------------------

def test_model_exception_silences_resets_and_recovers(caplog):
    engine, model = make(fail_at={1, 2})
    engine.handle(on(67), -0.01)
    tick(engine, 0)
    out = tick(engine, 1)
    assert sorted(notes(out)) == sorted(("off", ch, p) for ch, p in zip(CH, fake_voicing(67)))
    assert "fake failure" in engine.fault and model.resets == 1
    tick(engine, 2)  # fails again: same message, logged once
    assert len([r for r in caplog.records if "model fault" in r.message]) == 1
    out = tick(engine, 3)  # recovers: the held key is an onset again
    assert engine.fault is None
    assert model.calls[-1]["lead"] == V.onset(67) and model.calls[-1]["prev_lead"] == V.rest
    assert notes(out) == strikes(fake_voicing(67))


def test_out_of_range_token_is_a_fault():
    engine, model = make(bad_at={0})
    engine.handle(on(67), -0.01)
    assert tick(engine, 0) == []
    assert "may not play" in engine.fault and model.resets == 1
    assert engine.sounding == {}


@pytest.mark.parametrize("answer", [np.zeros(3, np.float32), np.zeros(2, np.int64), [0, 0, 0], np.array([0, 1, 99])])
def test_malformed_answers_are_faults(answer):
    engine, model = make()
    model.step = lambda *a: answer
    engine.handle(on(67), -0.01)
    assert tick(engine, 0) == [] and engine.fault and model.resets == 1


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="part_channels"):
        Engine(FakeStepModel(), EngineSettings(part_channels=(1, 2)))
    with pytest.raises(ValueError, match="distinct"):
        Engine(FakeStepModel(), EngineSettings(part_channels=(1, 1, 2)))
    with pytest.raises(ValueError, match="lead_policy"):
        Engine(FakeStepModel(), EngineSettings(part_channels=CH, lead_policy="loudest"))
