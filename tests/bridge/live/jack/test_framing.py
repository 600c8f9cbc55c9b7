"""SysexFramer: JACK events to whole messages; a SysEx ends at F7 or at the next status byte (no JACK needed)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sideman.bridge.live.jack.framing import KEPT_BYTES, SysexFramer


def frame(*events: bytes) -> list[bytes]:
    framer = SysexFramer()
    return [m for e in events for m in framer.messages(e)]


def test_plain_messages_pass_and_whole_sysex_and_active_sensing_do_not():
    assert frame(b"\x90\x3c\x64", b"\xf0\x7d\x01\x02\xf7", b"\xfe", b"\xf8", b"\x80\x3c\x00") == [
        b"\x90\x3c\x64", b"\xf8", b"\x80\x3c\x00"]


def test_a_sysex_cut_short_by_a_status_byte_is_handed_on_unfinished_and_the_status_byte_starts_a_message():
    assert frame(b"\xf0\x7d\x01", b"\x80\x3c\x00", b"\xb0\x7b\x00") == [b"\xf0\x7d\x01", b"\x80\x3c\x00", b"\xb0\x7b\x00"]
    assert frame(b"\xf0\x7d\x01\x90\x3c\x64") == [b"\xf0\x7d\x01", b"\x90\x3c\x64"]  # within one event too
    assert frame(b"\xf0\x7d", b"\xf0\x01\xf7") == [b"\xf0\x7d"]  # a new SysEx ends the old one


def test_a_sysex_split_over_events_is_whole_and_realtime_inside_it_goes_on():
    assert frame(b"\xf0\x7d\x01", b"\x02\xf8\x03", b"\x04\xf7", b"\x90\x3c\x64") == [b"\xf8", b"\x90\x3c\x64"]


def test_what_is_handed_on_is_bounded_whatever_was_sent():
    out = frame(b"\xf0" + bytes(5000), b"\x90" + bytes(5000))
    assert [len(m) for m in out] == [KEPT_BYTES, KEPT_BYTES] and out[0][0] == 0xF0 and out[1][0] == 0x90


@given(st.lists(st.binary(min_size=1, max_size=12), max_size=30))
def test_an_event_that_starts_with_a_channel_status_byte_always_comes_out_whatever_came_before(events):
    """Resynchronisation: no unfinished SysEx, stray data byte or junk swallows a channel message."""
    out = iter(frame(*events))
    for event in events:
        if 0x80 <= event[0] < 0xF0:
            assert event[:KEPT_BYTES] in out, event  # in order: `in` advances the iterator
