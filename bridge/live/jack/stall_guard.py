"""Never wait on a JACK server that stopped taking Sideman's output.

python-rtmidi's JACK output writes each message (a 4-byte length, then the bytes) into a 16 KiB ring
buffer that its process callback empties once per JACK cycle. When the server runs no cycle (stopped
with SIGSTOP or in a debugger, a machine waking up, a server that hangs), nothing empties it, and
RtMidi 5's sendMessage then waits for room in a loop while holding the GIL: after ~2,300 messages the
whole bridge stands still, Ctrl-C included, and it never returns if the server then dies (measured
with a stopped jackd: the send after the 2,300th-2,400th never returned; the buffer holds 2,340
three-byte messages).

A StallGuard sits in front of such an output. It counts the bytes that may still be in the buffer,
asking the server's cycle count (JACK's frame time of the last cycle) only every KiB sent, or on every
send once the buffer may be filling. Past SOFT_BYTES it drops what could start or change sound and
keeps what ends it (sideman.bridge.midi.is_essential: note-offs, All Notes Off, pedal release, clock and
transport); past HARD_BYTES, short of the buffer's size, it drops everything. When the server runs
again after a drop it hands out All Notes Off for every channel a note was struck on (the output's
NoteTracker.channels_used), before anything new: a dropped note-off cannot leave a note sounding.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Collection

from sideman.bridge.midi import ALL_NOTES_OFF, is_essential

log = logging.getLogger("sideman")

RING_BYTES = 16_384  # RtMidi's JACK output ring buffer (JACK_RINGBUFFER_SIZE)
HEADER_BYTES = 4  # RtMidi writes each message's length (an int) before its bytes
SOFT_BYTES = 10_240  # from here: only messages that end sound or carry the transport
HARD_BYTES = 14_336  # from here: nothing (room left for one more message of any size RtMidi takes)
CHECK_EVERY_BYTES = 1_024  # ~140 three-byte messages between two looks at the server's cycle
_NOTHING_OWED: list[bytes] = []  # returned, never changed: no list made per send


class StallGuard:
    """Decides, send by send, whether a message may go into an output the server may not be emptying."""

    def __init__(self, cycle: Callable[[], int], channels: Collection[int]) -> None:
        """`cycle()`: a number that changes whenever the server runs a cycle (JackWatch.last_frame_time);
        `channels`: the channels notes were struck on, read when All Notes Off is owed (NoteTracker.channels_used)."""
        self._cycle = cycle
        self._channels = channels
        self._last_cycle = cycle()
        self._queued = 0  # bytes that may still be in the buffer: sent since the server was last seen running
        self._since_look = 0  # bytes sent since the last look at the cycle
        self.dropped = 0  # messages dropped in all
        self._dropped_in_stall = 0
        self._owed: list[bytes] = []  # All Notes Off to send once the server runs again after a drop

    def allow(self, data: bytes | list[int]) -> bool:
        """Whether `data` may be written now. Then send what `owed()` returns first, `data` after it."""
        size = len(data) + HEADER_BYTES
        if self._since_look + size > CHECK_EVERY_BYTES or self._queued + size > SOFT_BYTES:
            self._look()
        if self._queued + size > HARD_BYTES or (self._queued + size > SOFT_BYTES and not is_essential(list(data))):
            if self._dropped_in_stall == 0:
                log.warning("JACK has run no cycle while Sideman sent %d bytes: dropping new notes until it does "
                            "(waiting for room would stop Sideman)", self._queued)
            self.dropped += 1
            self._dropped_in_stall += 1
            return False
        self._queued += size
        self._since_look += size
        return True

    def owed(self) -> list[bytes]:
        """All Notes Off owed after a stall in which something was dropped (each handed out once)."""
        if not self._owed:
            return _NOTHING_OWED
        owed, self._owed = self._owed, []
        for data in owed:  # they go into the buffer like any message
            self._queued += len(data) + HEADER_BYTES
            self._since_look += len(data) + HEADER_BYTES
        return owed

    @property
    def server_gone(self) -> bool:
        """The cycle source reads 0 once the server is gone (JackWatch.last_frame_time)."""
        return self._cycle() == 0

    def server_runs(self, within: float) -> bool:
        """Whether the server runs a cycle within `within` seconds (its frame time moves; nothing is asked of it).
        A port must not be closed otherwise: closing waits for the server, and RtMidi waits holding the GIL."""
        first = self._cycle()
        deadline = time.monotonic() + within
        while self._cycle() == first:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def _look(self) -> None:
        now = self._cycle()
        if now != self._last_cycle:
            self._last_cycle = now
            # A cycle emptied the buffer since the previous look: what was sent after that look may remain.
            self._queued = self._since_look
            if self._dropped_in_stall:
                log.warning("JACK runs again: %d message(s) were dropped meanwhile; sending All Notes Off on "
                            "channel(s) %s", self._dropped_in_stall, ", ".join(str(c + 1) for c in sorted(self._channels)))
                self._owed = [bytes([0xB0 | c, ALL_NOTES_OFF, 0]) for c in sorted(self._channels)]
                self._dropped_in_stall = 0
        self._since_look = 0
