"""JACK MIDI events to MIDI messages, with the SysEx rule a live input needs.

JACK hands a client one event per message, but a SysEx may come split over several events (a long
dump) and a broken sender may never end one. RtMidi's JACK input then takes every later event for
the rest of that SysEx, and the input falls silent for good, note-offs included. Here a SysEx ends at
its F7 or at the next status byte (the MIDI rule: every status byte but a realtime one ends a SysEx):
one cut short is handed on as its first bytes without F7, so the bridge counts it malformed, and the
status byte starts the next message. Whole SysEx and Active Sensing are dropped, as the other inputs
drop them at the driver. Realtime bytes inside a SysEx (clock, Start, Stop) go on as messages of their own.
"""

from __future__ import annotations

import re

from sideman.bridge.midi import ACTIVE_SENSING, SYSEX, SYSEX_END

_STATUS_BYTE = re.compile(rb"[\x80-\xff]")
# The most bytes handed on as one message: a longer one (a broken SysEx's start, a bad event) is malformed
# anyway; this keeps the bridge's log line and the relay's pipe records small whatever was sent.
KEPT_BYTES = 16
_REALTIME_FIRST = 0xF8


class SysexFramer:
    """Turns the events of one JACK port, in order, into whole messages (`messages`)."""

    def __init__(self) -> None:
        self._open: bytearray | None = None  # the first bytes of a SysEx not ended yet

    def messages(self, event: bytes) -> list[bytes]:
        """The messages `event` completes, in order (often just [event])."""
        if not event:
            return []
        if self._open is None and event[0] != SYSEX:
            if event[0] == ACTIVE_SENSING:
                return []
            return [event if len(event) <= KEPT_BYTES else event[:KEPT_BYTES]]
        out: list[bytes] = []
        pos, end = 0, len(event)
        while pos < end:
            if self._open is None:
                if event[pos] != SYSEX:
                    if event[pos] != ACTIVE_SENSING:
                        out.append(event[pos:pos + KEPT_BYTES])
                    break
                self._open = bytearray((SYSEX,))
                pos += 1
            found = _STATUS_BYTE.search(event, pos)
            stop = found.start() if found else end
            self._keep(event[pos:stop])
            if found is None:
                break
            status = event[stop]
            if status == SYSEX_END:  # a whole SysEx: not for the bridge
                self._open = None
                pos = stop + 1
            elif status >= _REALTIME_FIRST:  # realtime may come inside a SysEx; the SysEx goes on
                if status != ACTIVE_SENSING:
                    out.append(bytes((status,)))
                pos = stop + 1
            else:  # any other status byte ends the SysEx unfinished and starts a message
                out.append(bytes(self._open))
                self._open = None
                pos = stop
        return out

    def _keep(self, data: bytes) -> None:
        room = KEPT_BYTES - len(self._open)  # type: ignore[arg-type]
        if room > 0 and data:
            self._open += data[:room]  # type: ignore[operator]
