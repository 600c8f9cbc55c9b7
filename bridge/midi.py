"""The MIDI vocabulary every room asks: status bytes, controller numbers, and what must never be dropped.

One table, so that a byte means the same thing to the core, the live loop, the JACK guard and the recorder.
Channels are 0-based here, as on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence

import mido

DATA_MAX = 0x7F  # the largest data byte: note numbers, velocities, controller values
CHANNELS = 16

# Channel messages: the status byte's high nibble.
NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PROGRAM_CHANGE = 0x80, 0x90, 0xB0, 0xC0

# System messages.
SYSEX, SONG_POSITION, TUNE_REQUEST, SYSEX_END = 0xF0, 0xF2, 0xF6, 0xF7
CLOCK, START, CONTINUE, STOP, ACTIVE_SENSING, RESET = 0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF
TRANSPORT = frozenset((CLOCK, START, CONTINUE, STOP, SONG_POSITION))
PULSES_PER_QUARTER = 24  # MIDI beat clock
# What thru never passes on: a synth acts on these (retunes, resets itself), and they were meant for the sender's gear.
NOT_THRU = frozenset((TUNE_REQUEST, RESET))

# Controllers.
SUSTAIN = 64
PEDAL_DOWN = 64  # a switch controller is on from this value up
ALL_SOUND_OFF, ALL_NOTES_OFF = 120, 123

PERCUSSION_CHANNEL = 9  # General MIDI's channel 10: drums, never a tune


def is_note_on(msg: mido.Message) -> bool:
    return msg.type == "note_on" and msg.velocity > 0


def is_note_off(msg: mido.Message) -> bool:
    return msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)


def is_essential(data: Sequence[int]) -> bool:
    """True for messages that end sound or carry the transport: no overflow policy may drop them."""
    if not data:
        return False
    status = data[0]
    kind = status & 0xF0
    if kind == NOTE_OFF:
        return True
    if kind == NOTE_ON:
        return len(data) >= 3 and data[2] == 0
    if kind == CONTROL_CHANGE and len(data) >= 3:
        control, value = data[1], data[2]
        return (control == SUSTAIN and value < PEDAL_DOWN) or control in (ALL_SOUND_OFF, ALL_NOTES_OFF)
    return status in TRANSPORT


def all_notes_off(channels: Sequence[int]) -> list[mido.Message]:
    """All Notes Off on each channel, in order."""
    return [mido.Message("control_change", channel=ch, control=ALL_NOTES_OFF, value=0) for ch in channels]


def parse(data: list[int]) -> mido.Message | None:
    """Raw bytes to a mido message, or None for bytes that are not one valid message."""
    try:
        return mido.Message.from_bytes(data)
    except (ValueError, TypeError, IndexError, KeyError):
        return None


def channel_message_bytes(data: list[int]) -> bytes | None:
    """The bytes of one valid channel voice message (status 0x80-0xEF), or None if `data` is not one."""
    size = 2 if 0xC0 <= data[0] < 0xE0 else 3
    if len(data) != size:
        return None
    try:
        raw = bytes(data)
    except (ValueError, TypeError):  # values outside 0..255
        return None
    return raw if raw[1] < 0x80 and raw[-1] < 0x80 else None
