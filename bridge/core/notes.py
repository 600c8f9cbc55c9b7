"""Who owns which sounding note: the bookkeeping behind "no stuck notes, ever".

Every output path sends through a NoteTracker, so whatever stops the bridge (DAW stop, exit, a
signal, a model error, a vanished port) can ask it for the exact note-offs still owed.
"""

from __future__ import annotations

import mido

from sideman.bridge.midi import ALL_NOTES_OFF, CONTROL_CHANGE, NOTE_OFF, NOTE_ON, all_notes_off, is_note_off, is_note_on


class NoteTracker:
    """Counts note-ons minus note-offs per (channel, note) for messages that were really sent.

    A note struck twice without a note-off in between still needs only one note-off on most
    synths, but we count both so a later single note-off does not wrongly clear it. Silencing sends
    one note-off per sounding note, then All Notes Off for what a counting synth may still hold:
    thousands of strikes must not become thousands of note-offs in the last moment of a port.
    """

    def __init__(self) -> None:
        self._held: dict[tuple[int, int], int] = {}
        self.channels_used: set[int] = set()

    def record(self, msg: mido.Message) -> None:
        """Update the books after `msg` has been sent."""
        if is_note_on(msg):
            self._strike(msg.channel, msg.note)
        elif is_note_off(msg):
            self._release(msg.channel, msg.note)
        elif msg.type == "control_change" and msg.control == ALL_NOTES_OFF:
            self._all_off(msg.channel)

    def record_bytes(self, data: bytes) -> None:
        """`record` for one valid channel message sent as raw bytes (the thru fast path: no mido object)."""
        kind, channel = data[0] & 0xF0, data[0] & 0x0F
        if kind == NOTE_ON and data[2] > 0:
            self._strike(channel, data[1])
        elif kind == NOTE_OFF or kind == NOTE_ON:
            self._release(channel, data[1])
        elif kind == CONTROL_CHANGE and data[1] == ALL_NOTES_OFF:
            self._all_off(channel)

    def _strike(self, channel: int, note: int) -> None:
        key = (channel, note)
        self._held[key] = self._held.get(key, 0) + 1
        self.channels_used.add(channel)

    def _release(self, channel: int, note: int) -> None:
        key = (channel, note)
        count = self._held.get(key, 0)
        if count <= 1:
            self._held.pop(key, None)
        else:
            self._held[key] = count - 1

    def _all_off(self, channel: int) -> None:
        for key in [k for k in self._held if k[0] == channel]:
            del self._held[key]

    @property
    def held(self) -> list[tuple[int, int]]:
        """(channel, note) pairs still sounding, in a stable order."""
        return sorted(self._held)

    def silence(self) -> list[mido.Message]:
        """The messages that end everything still sounding: note-offs, then All Notes Off per channel used.

        The explicit note-offs come first because some instruments ignore CC 123.
        """
        out = [mido.Message("note_off", channel=ch, note=note, velocity=0) for ch, note in sorted(self._held)]
        out += all_notes_off(sorted(self.channels_used))
        return out
