"""NoteTracker and SilencingOutput: whatever was started is ended on close."""

from __future__ import annotations

import mido
from hypothesis import given
from hypothesis import strategies as st

from sideman.bridge.core.notes import NoteTracker
from sideman.bridge.midi import is_note_on
from sideman.bridge.live.ports import FakeOutput, SilencingOutput

note_messages = st.builds(
    lambda kind, ch, note, vel: mido.Message(kind, channel=ch, note=note, velocity=vel),
    st.sampled_from(["note_on", "note_off"]),
    st.integers(0, 15),
    st.integers(0, 127),
    st.integers(0, 127),
)
cc123 = st.builds(lambda ch: mido.Message("control_change", channel=ch, control=123, value=0), st.integers(0, 15))


@given(st.lists(st.one_of(note_messages, cc123), max_size=200))
def test_after_close_every_note_on_has_been_answered(messages):
    fake = FakeOutput()
    out = SilencingOutput(fake, flush_seconds=0)
    for msg in messages:
        out.send(msg)
    out.close()
    assert fake.closed
    # Replay what reached the port: every (channel, note) struck must be off at the end.
    sounding: dict[tuple[int, int], int] = {}
    for msg in fake.sent:
        key = (getattr(msg, "channel", None), getattr(msg, "note", None))
        if is_note_on(msg):
            sounding[key] = sounding.get(key, 0) + 1
        elif msg.type == "note_off" or msg.type == "note_on":
            sounding[key] = max(0, sounding.get(key, 0) - 1)
        elif msg.type == "control_change" and msg.control == 123:
            sounding = {k: v for k, v in sounding.items() if k[0] != msg.channel}
    assert not any(sounding.values())
    used = {m.channel for m in messages if is_note_on(m)}
    assert used <= {m.channel for m in fake.sent if m.type == "control_change" and m.control == 123}


def test_double_strike_needs_two_offs_and_velocity_zero_is_off():
    t = NoteTracker()
    t.record(mido.Message("note_on", note=60, velocity=10))
    t.record(mido.Message("note_on", note=60, velocity=10))
    t.record(mido.Message("note_on", note=60, velocity=0))
    assert t.held == [(0, 60)]
    assert [m.type for m in t.silence()] == ["note_off", "control_change"]
    t.record(mido.Message("note_on", note=60, velocity=10))
    assert [m.type for m in t.silence()] == ["note_off", "control_change"]  # one note-off per sounding note


def test_nothing_played_means_nothing_to_silence():
    out = SilencingOutput(FakeOutput(), flush_seconds=0)
    out.send(mido.Message("control_change", control=7, value=100))
    assert out.notes.silence() == []
