"""The bounded hand-off from the MIDI driver's callback thread to the engine thread.

Overflow policy (stated once, here): when `capacity` messages are waiting, a new message that
could start or change sound (note-on, CC, pitch bend, aftertouch, program change…) is dropped and
counted. Messages that end sound or carry the transport are never dropped: note-offs (and note-on
with velocity 0), sustain-pedal release, All Sound/Notes Off, and the MIDI clock, Start, Continue,
Stop and Song Position Pointer. Those are bounded in practice by the note-ons and clock ticks
that preceded them, so the queue cannot grow without limit.

Two ways in: a driver callback calls `put` (rtmidi's ALSA, CoreMIDI and Windows inputs), or the
inbox pulls from a source on the thread that calls `get` (the JACK input relay's pipe,
bridge/live/jack/relay.py): then no thread stands between the pipe and the engine, and no wake-up of one
by the other is paid per message. A pulled batch goes through the same overflow policy.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import NamedTuple, Protocol

from sideman.bridge.midi import is_essential


class Received(NamedTuple):
    data: list[int]
    t: float



class PullSource(Protocol):
    """Messages an inbox reads itself (sideman.bridge.live.jack.relay.RelayedInput)."""

    def wait(self, timeout: float) -> bool:
        """Block until messages may be waiting, at most `timeout` seconds; True if they may."""

    def read(self) -> list[tuple[list[int], float]]:
        """Every whole message waiting now, oldest first; never blocks."""

    def waiting(self) -> bool:
        """Whether anything is waiting unread."""

    @property
    def dropped(self) -> int:
        """Messages the source itself had to drop before the inbox saw them."""


class Inbox:
    """A thread-safe FIFO with the overflow policy above. `put` never blocks (it runs in the driver callback)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._dropped = 0  # by the overflow policy; `dropped` adds the pull source's own
        self._queue: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self._source: PullSource | None = None
        self._pulled: deque[Received] = deque()
        self._pull_lock = threading.Lock()  # the engine thread pulls; close() may drain after it

    def pull_from(self, source: PullSource) -> None:
        """Read messages from `source` on the thread that calls get() (instead of being handed them by put)."""
        self._source = source

    def _pull(self) -> None:
        pulled, capacity = self._pulled, self.capacity
        for data, t in self._source.read():  # type: ignore[union-attr]
            if len(pulled) >= capacity and not is_essential(data):
                self._dropped += 1
                continue
            pulled.append(Received(data, t))

    def _get_pulled(self, timeout: float | None) -> Received | None:
        with self._pull_lock:
            if not self._pulled:
                if timeout and not self._source.wait(timeout):  # type: ignore[union-attr]
                    return None
                self._pull()
            return self._pulled.popleft() if self._pulled else None

    @property
    def dropped(self) -> int:
        """Messages dropped: by the overflow policy, and by a pull source that could not keep them (the
        JACK relay's pipe when full)."""
        return self._dropped + (self._source.dropped if self._source is not None else 0)

    def put(self, data: list[int], t: float) -> None:
        if self._queue.qsize() >= self.capacity and not is_essential(data):
            self._dropped += 1
            return
        self._queue.put(Received(data, t))

    def get(self, timeout: float | None) -> Received | None:
        """The next message, or None if none arrived within `timeout` seconds."""
        if self._source is not None:
            return self._get_pulled(timeout if timeout is not None else 1e9)
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def get_nowait(self) -> Received | None:
        if self._source is not None:
            return self._get_pulled(0.0)
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def __len__(self) -> int:
        """Messages waiting (a pull source's unread ones count as one: its pipe holds bytes, not messages)."""
        if self._source is not None:
            return len(self._pulled) + int(self._source.waiting())
        return self._queue.qsize()
