"""The live daemon: ports at the edges, one engine thread in the middle.

The driver callback only stamps and enqueues (bridge.inbox). One thread owns everything that
decides what to send. Stopping — by signal, by a port error, by the caller — always goes through
`LiveBridge.close()`, which silences every note the bridge sent before the ports close.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import mido

from bridge.config import Config
from bridge.inbox import Inbox, Received
from bridge.ports import InputPort, OutputPort, SilencingOutput

log = logging.getLogger("sideman")


@dataclass
class BridgeStats:
    received: int = 0
    sent: int = 0
    malformed: int = 0


def parse(data: list[int]) -> mido.Message | None:
    """Raw bytes to a mido message, or None for bytes that are not one valid message."""
    try:
        return mido.Message.from_bytes(data)
    except (ValueError, TypeError, IndexError):
        return None


class LiveBridge:
    """Thru bridge: passes every well-formed message from input to output when `thru` is on."""

    def __init__(self, config: Config, inbox: Inbox, output: OutputPort) -> None:
        self.config = config
        self.inbox = inbox
        self.output = output if isinstance(output, SilencingOutput) else SilencingOutput(output)
        self.input: InputPort | None = None
        self.stats = BridgeStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # close() may race the engine thread's last send
        self._closed = False

    # -- engine thread -------------------------------------------------------------------------
    def handle(self, received: Received) -> None:
        """Process one received message (engine thread)."""
        self.stats.received += 1
        msg = parse(received.data)
        if msg is None:
            self.stats.malformed += 1
            if self.stats.malformed == 1:
                log.warning("ignoring malformed MIDI bytes %s (further ones are counted, not logged)", bytes(received.data).hex(" "))
            return
        if self.config.bridge.thru and not msg.is_realtime:
            with self._lock:
                if not self._closed:
                    self.output.send(msg)
                    self.stats.sent += 1

    def run_forever(self) -> None:
        while not self._stop.is_set():
            received = self.inbox.get(timeout=0.05)
            if received is not None:
                self.handle(received)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="sideman-engine", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets a flag."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested; True if it was."""
        return self._stop.wait(timeout)

    def close(self) -> None:
        """Stop the engine thread, then silence and close the ports (input first: nothing new comes in)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self.input is not None:
            self.input.close()
        # Drain what arrived before the input closed: a note-off still queued must reach the
        # tracker, or close() would not know that note has ended (and vice versa).
        while (received := self.inbox.get_nowait()) is not None:
            self.handle(received)
        with self._lock:
            self._closed = True
            self.output.close()
