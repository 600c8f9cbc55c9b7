"""AheadEngine.prepare only moves work before the tick: with or without it, the same music comes out."""

from __future__ import annotations

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sideman.bridge.config import Config
from sideman.bridge.core.ahead import AheadEngine
from sideman.bridge.core.engine import Engine
from sideman.bridge.engines import DEFAULT_MODEL, engine_settings, hearing_for
from sideman.bridge.model.runtime import OnnxStepModel
from tests.bridge.core.test_engine_properties import apply_op, control, dt, next_step, note_msg


def _pair(seed: int = 0, early: float = 0.05, late: float = 0.05, listen_beats: int = 0,
          listener: str = Config().engine.listener) -> tuple[Engine, AheadEngine]:
    """A plain engine and an answering-ahead one, both hearing as `sideman run` does (the config's strengths)."""
    config = Config().replace("engine", seed=seed, listen_beats=listen_beats, listener=listener)
    made = []
    for cls in (Engine, AheadEngine):
        model = OnnxStepModel.load(DEFAULT_MODEL)
        base = engine_settings(config, model.contract)
        made.append(cls(model, type(base)(**{**base.__dict__, "early_window": early, "late_window": late}),
                        *hearing_for(config.engine.listener, model.contract)))
    return made[0], made[1]


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 0.06), st.floats(0.0, 0.06), st.sampled_from([0, 1]),
       st.lists(st.tuples(dt, st.one_of(note_msg, note_msg, st.just(("tick",)), st.just(("tick",)),
                                        st.tuples(st.just("prepare"), st.floats(0.0, 0.2)),
                                        st.just(("freeze",)), control)),
                max_size=80), st.sampled_from(["profile", "cnn"]))
def test_prepared_steps_play_exactly_what_unprepared_ones_do(seed, early, late, listen_beats, ops, listener):
    plain, ahead = _pair(seed, early, late, listen_beats, listener)
    t, step = 0.0, 0
    for delta, (kind, *args) in ops:
        t += delta
        if kind == "prepare":
            ahead.prepare(step, t + args[0], t, beats_per_bar=3)  # a guess of when the tick will come
            continue
        if kind == "freeze":
            for engine in (plain, ahead):
                engine.freeze_key(step % 2 == 0)
            continue
        outs = [apply_op(engine, kind, args, t, step) for engine in (plain, ahead)]
        step = next_step(kind, step)
        assert outs[0] == outs[1], (kind, outs)
        assert plain.last_step == ahead.last_step
        assert plain.heard == ahead.heard


def test_a_prepared_step_is_adopted_when_nothing_changed_and_recomputed_when_the_melody_did():
    plain, ahead = _pair()
    note = mido.Message("note_on", note=67, velocity=90)
    for engine in (plain, ahead):
        engine.handle(note, 0.0)
        assert engine.tick(0, 0.0, 0.125) is not None
    for k in range(1, 8):
        t = k * 0.125
        assert ahead.prepare(k, t, t - 0.02)
        if k == 4:  # a new melody note inside the early window, after the step was prepared
            for engine in (plain, ahead):
                engine.handle(mido.Message("note_on", note=69, velocity=90), t - 0.01)
        assert plain.tick(k, t, 0.125) == ahead.tick(k, t, 0.125)
        assert plain.heard == ahead.heard
    assert ahead.prepared_count == 6  # all but step 4, which the new note changed
    # Inside the late window of the step just ticked, a late note could still change it: no preparing.
    assert not ahead.prepare(8, 1.0, 7 * 0.125 + 0.01)


@pytest.mark.parametrize("expected, actual", [(0.13, 0.11), (0.11, 0.13)])
def test_a_tick_at_another_time_than_prepared_sees_the_notes_its_own_early_window_holds(expected, actual):
    """A note played before prepare() ran is in the early window of a tick at 0.11 (from 0.06), not of
    one at 0.13 (from 0.08): when the tick comes at the other time, the prepared plan must not be reused."""
    plain, ahead = _pair()
    for engine in (plain, ahead):
        engine.tick(0, 0.0, 0.125)
        engine.handle(mido.Message("note_on", note=67, velocity=90), 0.07)
    assert ahead.prepare(1, expected, 0.08)
    assert plain.tick(1, actual, 0.125) == ahead.tick(1, actual, 0.125)
    assert plain.last_step == ahead.last_step
    assert ahead.prepared_count == 0
    # The same, ticking when expected: adopted.
    assert ahead.prepare(2, 0.25, 0.2) and plain.tick(2, 0.25, 0.125) == ahead.tick(2, 0.25, 0.125)
    assert ahead.prepared_count == 1


def test_a_late_note_handled_after_the_next_step_was_prepared_re_answers_with_its_own_noise():
    """A message stamped inside the late window can reach the engine after prepare() ran (it was in
    transit): the re-answer must use the current step's noise, state and hearing, not the prepared step's."""
    plain, ahead = _pair(seed=5)
    for k, pitch in enumerate((67, 69, 71, 72, 74, 76)):
        t = k * 0.125
        outs = [e.tick(k, t, 0.125) for e in (plain, ahead)]
        assert outs[0] == outs[1]
        assert ahead.prepare(k + 1, t + 0.125, t + 0.06)  # after the late window, by the clock
        late = mido.Message("note_on", note=pitch, velocity=90)
        outs = [e.handle(late, t + 0.03) for e in (plain, ahead)]  # stamped inside it
        assert outs[0] == outs[1]
        assert plain.last_step == ahead.last_step
    assert plain.reanswer_count == ahead.reanswer_count >= 5


def test_notes_on_a_channel_not_listened_to_keep_the_prepared_answer():
    """A flood on other channels must not cost the tick its prepared answer."""
    _, ahead = _pair()
    ahead = AheadEngine(ahead.model, type(ahead.settings)(**{**ahead.settings.__dict__, "input_channel": 0}),
                        *hearing_for(Config().engine.listener, ahead.contract))
    ahead.handle(mido.Message("note_on", note=67, velocity=90), 0.0)
    ahead.tick(0, 0.0, 0.125)
    assert ahead.prepare(1, 0.125, 0.1)
    ahead.handle(mido.Message("note_on", channel=5, note=40, velocity=90), 0.11)
    ahead.tick(1, 0.125, 0.125)
    assert ahead.prepared_count == 1
