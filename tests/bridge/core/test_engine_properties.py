"""Engine invariants over arbitrary input: judged only from the messages it sends."""

from __future__ import annotations

import mido
from hypothesis import given, settings
from hypothesis import strategies as st

from sideman.bridge.core.engine import Engine, EngineSettings
from tests.fakes import FAKE_CONTRACT, FakeStepModel

CH = (4, 9, 0)
RANGES = {ch: (p.low, p.high) for ch, p in zip(CH, FAKE_CONTRACT.parts)}

dt = st.floats(0.0, 0.2, allow_nan=False)
note_msg = st.builds(
    lambda kind, ch, note, vel: ("msg", mido.Message(kind, channel=ch, note=note, velocity=vel)),
    st.sampled_from(["note_on", "note_off"]), st.integers(0, 2), st.integers(0, 127), st.integers(0, 127),
)
pedal_msg = st.builds(lambda ch, v: ("msg", mido.Message("control_change", channel=ch, control=64, value=v)),
                      st.integers(0, 2), st.sampled_from([0, 63, 64, 127]))
other_msg = st.sampled_from([("msg", mido.Message("pitchwheel", pitch=100)), ("msg", mido.Message("program_change", program=3))])
control = st.one_of(
    st.tuples(st.just("enable"), st.booleans()),
    st.tuples(st.just("mute"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("temperature"), st.floats(0.05, 3.0)),
    st.sampled_from([("panic",), ("reset",), ("stop",)]),
)
op = st.one_of(note_msg, note_msg, pedal_msg, other_msg, st.just(("tick",)), st.just(("tick",)), st.just(("tick",)), control)
engine_settings = st.builds(
    lambda early, late, policy, inp, seed: EngineSettings(part_channels=CH, early_window=early, late_window=late,
                                                         lead_policy=policy, input_channel=inp, seed=seed),
    st.floats(0.0, 0.06), st.floats(0.0, 0.06), st.sampled_from(["highest", "lowest", "latest"]),
    st.sampled_from([None, 0, 2]), st.integers(0, 2**32 - 1),
)


class OutputJudge:
    """Replays the engine's output stream and fails on anything a synth would get wrong."""

    def __init__(self) -> None:
        self.sounding: dict[int, int] = {}  # channel -> pitch

    def feed(self, msgs: list[mido.Message]) -> None:
        for m in msgs:
            assert m.channel in CH, m
            if m.type == "note_on" and m.velocity > 0:
                assert m.channel not in self.sounding, f"second note on channel {m.channel}: {m}"
                low, high = RANGES[m.channel]
                assert low <= m.note <= high, m
                assert 1 <= m.velocity <= 127, m
                self.sounding[m.channel] = m.note
            elif m.type in ("note_on", "note_off"):
                assert self.sounding.get(m.channel) == m.note, f"note-off for a note not sounding: {m}"
                del self.sounding[m.channel]
            else:
                assert m.type == "control_change" and m.control == 123, m
                self.sounding.pop(m.channel, None)


def apply_op(engine: Engine, kind: str, args: list, t: float, step: int) -> list[mido.Message]:
    """Do one generated operation on the engine at time t; the messages it sent."""
    if kind == "msg":
        return engine.handle(args[0], t)
    if kind == "tick":
        return engine.tick(step, t, 0.1, beats_per_bar=3)
    if kind == "enable":
        return engine.set_enabled(args[0])
    if kind == "mute":
        return engine.set_muted(args[0], args[1])
    if kind == "panic":
        return engine.panic()
    if kind == "stop":
        return engine.stop()
    if kind == "temperature":
        engine.set_temperature(args[0])
    elif kind == "reset":
        engine.reset()
    return []


def next_step(kind: str, step: int) -> int:
    return step + 1 if kind == "tick" else 0 if kind == "reset" else step


@settings(max_examples=300, deadline=None)
@given(engine_settings, st.lists(st.tuples(dt, op), max_size=120), st.sets(st.integers(0, 60), max_size=3),
       st.sets(st.integers(0, 60), max_size=3), st.sampled_from([None, -0.5, 0.5, 2.0]))
def test_engine_output_is_always_playable(settings_, ops, fail_at, bad_at, hold_threshold):
    model = FakeStepModel(hold_threshold=hold_threshold, fail_at=fail_at, bad_at=bad_at)
    engine = Engine(model, settings_)
    judge = OutputJudge()
    t, step = 0.0, 0
    for delta, (kind, *args) in ops:
        t += delta
        judge.feed(apply_op(engine, kind, args, t, step))
        step = next_step(kind, step)
        # What the engine believes is sounding is what the synth would be playing.
        assert {CH[k]: p for k, p in engine.sounding.items()} == judge.sounding
    judge.feed(engine.stop())
    assert judge.sounding == {}, "a note-on without its note-off after stop()"


@settings(max_examples=100, deadline=None)
@given(engine_settings, st.lists(st.tuples(dt, st.one_of(note_msg, pedal_msg, st.just(("tick",)))), max_size=80))
def test_model_sees_only_valid_lead_tokens(settings_, ops):
    """prev_lead is never `unknown`; every token fed is in the lead range or rest/hold/unknown."""
    model = FakeStepModel()
    engine = Engine(model, settings_)
    v = model.vocab
    lead = FAKE_CONTRACT.lead
    t, step = 0.0, 0
    for delta, (kind, *args) in ops:
        t += delta
        if kind == "msg":
            engine.handle(args[0], t)
        else:
            engine.tick(step, t, 0.1)
            step += 1
    for call in model.calls:
        assert call["prev_lead"] != v.unknown
        for token in (call["lead"], call["prev_lead"]):
            assert token in (v.rest, v.hold, v.unknown) or lead.low <= v.pitch(token) <= lead.high


def test_with_no_late_window_a_note_at_the_tick_handled_after_it_still_re_answers():
    """Found by the property test above: with late_window = 0 the plain tick kept no state to re-answer
    from, and a note stamped at the tick but handled after it made a model fault."""
    from sideman.bridge.model.runtime import OnnxStepModel
    from sideman.bridge.engines import DEFAULT_MODEL

    engine = Engine(OnnxStepModel.load(DEFAULT_MODEL), EngineSettings(part_channels=(1, 2, 3), early_window=0.0,
                                                                      late_window=0.0))
    engine.tick(0, 0.0, 0.125)
    engine.handle(mido.Message("note_on", note=67, velocity=90), 0.0)
    assert engine.fault is None and engine.last_step is not None and engine.last_step.reanswers == 1


