"""The bounded hand-off from the MIDI driver's callback thread to the engine thread.

Overflow policy (stated once, here): when `capacity` messages are waiting, a new message that
could start or change sound (note-on, CC, pitch bend, aftertouch, program change…) is dropped and
counted. Messages that end sound or carry the transport are never dropped: note-offs (and note-on
with velocity 0), sustain-pedal release, All Sound/Notes Off, and the MIDI clock, Start, Continue,
Stop and Song Position Pointer. Those are bounded in practice by the note-ons and clock ticks
that preceded them, so the queue cannot grow without limit.
"""

from __future__ import annotations

import queue
from typing import NamedTuple


class Received(NamedTuple):
    data: list[int]
    t: float


def is_essential(data: list[int]) -> bool:
    """True for messages the overflow policy never drops."""
    if not data:
        return False
    status = data[0]
    kind = status & 0xF0
    if kind == 0x80:
        return True
    if kind == 0x90:
        return len(data) >= 3 and data[2] == 0
    if kind == 0xB0 and len(data) >= 3:
        control, value = data[1], data[2]
        return (control == 64 and value < 64) or control in (120, 123)
    return status in (0xF8, 0xFA, 0xFB, 0xFC, 0xF2)


class Inbox:
    """A thread-safe FIFO with the overflow policy above. `put` never blocks (it runs in the driver callback)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.dropped = 0
        self._queue: queue.SimpleQueue[Received] = queue.SimpleQueue()

    def put(self, data: list[int], t: float) -> None:
        if self._queue.qsize() >= self.capacity and not is_essential(data):
            self.dropped += 1
            return
        self._queue.put(Received(data, t))

    def get(self, timeout: float | None) -> Received | None:
        """The next message, or None if none arrived within `timeout` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def get_nowait(self) -> Received | None:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def __len__(self) -> int:
        return self._queue.qsize()
