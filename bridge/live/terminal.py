"""Lines typed into `sideman run`'s terminal, read on a daemon thread and handed on one by one.

The reader uses the file descriptor itself, not sys.stdin: a thread blocked in a read of a Python file
object holds that object's lock, and the interpreter's shutdown would wait for it. On POSIX it waits in
select() a short while at a time, so stop() returns within one interval; a process in the terminal's
background never reads (that would stop it with SIGTTIN) until it is brought to the foreground.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
from typing import Callable

log = logging.getLogger("sideman")

POLL_SECONDS = 0.2


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


class TerminalReader:
    """Calls `on_line(text)` (without its line end) on its own thread for each line read from `fd`."""

    def __init__(self, on_line: Callable[[str], None], fd: int = 0, interval: float = POLL_SECONDS) -> None:
        self.on_line = on_line
        self.fd = fd
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sideman-terminal", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and os.name == "posix":
            self._thread.join(timeout=self.interval + 1.0)  # elsewhere the read may block: the thread is a daemon

    def _readable(self) -> bool:
        """Whether a read will not block (POSIX), waiting at most one interval; elsewhere always True."""
        if os.name != "posix":
            return True
        try:
            if os.isatty(self.fd) and os.tcgetpgrp(self.fd) != os.getpgrp():
                self._stop.wait(self.interval)  # in the background: a read would stop the whole process
                return False
            return bool(select.select([self.fd], [], [], self.interval)[0])
        except (OSError, ValueError):
            self._stop.set()  # the descriptor is gone: nothing more will be typed
            return False

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            if not self._readable():
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                return
            if not chunk:  # end of input: a last line without its newline still counts
                if pending:
                    self._hand_on(pending)
                return
            pending += chunk
            while b"\n" in pending and not self._stop.is_set():
                line, pending = pending.split(b"\n", 1)
                self._hand_on(line)

    def _hand_on(self, line: bytes) -> None:
        try:
            self.on_line(line.decode("utf-8", errors="replace").rstrip("\r"))
        except Exception:  # a bug in a command must not end the reading of the next ones
            log.exception("while handling the typed line %r", line)
