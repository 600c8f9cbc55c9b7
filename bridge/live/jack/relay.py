"""A JACK MIDI input that never waits for the bridge's GIL: the port lives in a small relay process.

Why: JACK hands MIDI to a client once per period (1.3 ms at 64 frames), inside the client's process
callback, and a port's events live only for that cycle. python-rtmidi runs its input callback in
that thread, and a Python callback must first take the GIL: in the bridge's process the engine
thread, the recorder and thru hold it for up to the switch interval, so under a flood the callback
sometimes missed its cycle and JACK dropped that cycle's MIDI, note-offs and clock included
(docs/benchmarks.md). Polling python-rtmidi's own queue instead is not safe (RtMidi 5's queue is not
thread-safe: a test segfaulted in `get_message`).

So for JACK the input port is opened by a child process (`python -m sideman.bridge.live.jack.relay`) that does
nothing else: its main thread sleeps in a blocking read with the GIL released, so the port's process
callback (libjack through ctypes, bridge/live/jack/midi_input.py: RtMidi's own JACK input loses every
message after a SysEx without its end) takes the GIL at once, stamps the cycle's messages with
`time.perf_counter()` (CLOCK_MONOTONIC, the same clock in every process) and writes one small record
per message to a pipe. That write never waits: a record that does not fit is dropped and counted, and
the count reaches the bridge as a record of its own. The bridge's engine thread reads that
pipe itself, through its Inbox (`Inbox.pull_from`): it sleeps in `select` on the pipe until a message
or its next deadline, so no thread stands between the relay and the engine (one thread and one
wake-up per message fewer than a reader thread; `python -m benchmarks.live` showed no difference beyond noise).

Lifetime: the child reads its stdin until EOF, so it ends when the bridge closes the pipe or dies.
Errors (no JACK server, no such port) come back as one line and the same exception class.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Callable

from sideman.bridge.errors import PortError, PortNotFoundError
from sideman.bridge.live.port_base import Port

log = logging.getLogger("sideman")

_RECORD = struct.Struct("<dH")  # perf_counter stamp, message length; then the message bytes
_READY = 0xFFFF  # a record of this "length" carries the opened port's name: the child is ready
_DROPPED = 0xFFFE  # a record of this "length" says how many messages (its stamp field) did not fit the pipe
_NOTICE = 0xFFFD  # a record of this "length" carries a line for the bridge's log, as many bytes as its stamp field says
_PIPE_BYTES = 1 << 20  # room for ~80,000 messages if the bridge stalls: the child must never block
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), missing from older Pythons' fcntl
_START_TIMEOUT = 20.0
_ERRORS = {"PortNotFoundError": PortNotFoundError, "PortError": PortError}


class RelayedInput(Port):
    """A JACK MIDI input port owned by a relay process; an Inbox pulls its messages (`wait`, `read`)."""

    def __init__(self, client_name: str, port_name: str, connect: str = "",
                 on_lost: Callable[[str], None] | None = None, own_output: str = "") -> None:
        """`on_lost(reason)` is called (by whoever reads) if the relay ends while the port is open;
        `own_output`: the bridge's own output port, which the relay never listens to."""
        cmd = [sys.executable, "-m", "sideman.bridge.live.jack.relay", "--client", client_name, "--port", port_name]
        if connect:
            cmd += ["--connect", connect]
        if own_output:
            cmd += ["--own-output", own_output]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._on_lost = on_lost
        self._closing = False
        self.lost: str | None = None  # why the relay ended while in use, if it did
        self.dropped = 0  # messages the relay could not write into a full pipe (it never waits in JACK's thread)
        self._fd = self._proc.stdout.fileno()  # type: ignore[union-attr]
        try:
            self.name = self._read_ready(self._fd)
        except BaseException:
            self._stop_child()
            raise
        os.set_blocking(self._fd, False)
        self._partial = b""  # the start of a record the next read completes
        self._eof = False
        self._left: list[tuple[list[int], float]] = []  # what close() read: handed out by the next read()
        self._lock = threading.Lock()  # read() vs close(): close may run while a stuck engine thread reads

    def _read_ready(self, fd: int) -> str:
        deadline = time.monotonic() + _START_TIMEOUT
        _, size = _RECORD.unpack(self._read_starting(fd, _RECORD.size, deadline))
        if size != _READY:
            raise PortError("the MIDI input relay sent a message before it was ready")
        (name_len,) = struct.unpack("<H", self._read_starting(fd, 2, deadline))
        return self._read_starting(fd, name_len, deadline).decode()

    def _read_starting(self, fd: int, n: int, deadline: float) -> bytes:
        """n bytes from the starting relay: its own error if it ends, a PortError if it hangs."""
        data = b""
        while len(data) < n:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self._proc.kill()
                raise PortError(f"the MIDI input relay did not start within {_START_TIMEOUT:g} s")
            chunk = os.read(fd, n - len(data))
            if not chunk:
                raise self._startup_error()
            data += chunk
        return data

    def _startup_error(self) -> Exception:
        try:
            _, err = self._proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return PortError("the MIDI input relay did not start in time")
        line = (err.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        kind, _, text = line.partition(": ")
        return _ERRORS.get(kind, PortError)(text if kind in _ERRORS else f"the MIDI input relay failed: {line}")

    # -- the Inbox's side (sideman.bridge.live.inbox.PullSource) ------------------------------------------------
    def wait(self, timeout: float) -> bool:
        if self._fd < 0 or self._eof:
            if not self._left:
                time.sleep(timeout)  # nothing will ever come: do not spin on a closed pipe
            return bool(self._left)
        try:
            ready, _, _ = select.select([self._fd], [], [], timeout)
        except (OSError, ValueError):  # closed under us by close()
            return bool(self._left)
        return bool(ready)

    def waiting(self) -> bool:
        if self._left:
            return True
        if self._fd < 0 or self._eof:
            return False
        ready, _, _ = select.select([self._fd], [], [], 0)
        return bool(ready)

    def read(self) -> list[tuple[list[int], float]]:
        with self._lock:
            return self._read()

    def _read(self) -> list[tuple[list[int], float]]:
        if self._left:
            left, self._left = self._left, []
            return left
        if self._fd < 0 or self._eof:
            return []
        chunks = []
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._ended()
                break
            chunks.append(chunk)
            if len(chunk) < 65536:
                break
        return self._decode(b"".join(chunks)) if chunks else []

    def _decode(self, chunk: bytes) -> list[tuple[list[int], float]]:
        buf = self._partial + chunk if self._partial else chunk
        unpack, head_size = _RECORD.unpack_from, _RECORD.size
        out = []
        pos, end = 0, len(buf)
        while end - pos >= head_size:
            t, size = unpack(buf, pos)
            if size == _DROPPED:
                self._count_dropped(int(t))
                pos += head_size
                continue
            if size == _NOTICE:
                if end - pos - head_size < int(t):
                    break
                log.warning("%s", buf[pos + head_size:pos + head_size + int(t)].decode(errors="replace"))
                pos += head_size + int(t)
                continue
            if end - pos - head_size < size:
                break
            start = pos + head_size
            out.append((list(buf[start:start + size]), t))
            pos = start + size
        self._partial = buf[pos:]
        return out

    def _count_dropped(self, n: int) -> None:
        if not self.dropped:
            log.warning("the MIDI input relay's pipe was full: input messages were dropped (the bridge fell behind)")
        self.dropped += n

    def _ended(self) -> None:
        self._eof = True
        if self._closing:
            return
        try:
            code = self._proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        self.lost = f"exit code {code}"
        log.error("the MIDI input relay stopped (%s): no more MIDI input", self.lost)
        if self._on_lost is not None:
            self._on_lost(self.lost)

    # -- the end -------------------------------------------------------------------------------------
    def _stop_child(self, timeout: float = 3.0) -> None:
        try:
            self._proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()  # its JACK client waits on a server that runs no cycle
            self._proc.wait()

    def close(self) -> None:
        """End the relay; what it had sent and nobody read yet stays for the next read() (a note-off must
        reach the books). Bounded: a relay whose JACK server stalls is killed once its pipe has ended."""
        with self._lock:
            if self._fd < 0:
                return
            self._closing = True
            try:
                self._proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            left = []
            deadline = time.monotonic() + 2.0
            while not self._eof and time.monotonic() < deadline:  # its last records, then EOF (before its JACK client closes)
                select.select([self._fd], [], [], 0.1)
                left += self._read()
            self._left += left
            self._fd = -1
            self._stop_child(timeout=1.0)
            for stream in (self._proc.stdout, self._proc.stderr):
                if stream is not None:
                    stream.close()


def relay_main(argv: list[str] | None = None) -> int:
    """The child: open the JACK input port, write a record per message to stdout until stdin closes."""
    from sideman.bridge.live.jack.midi_input import JackMidiInput

    parser = argparse.ArgumentParser(prog="python -m sideman.bridge.live.jack.relay")
    parser.add_argument("--client", required=True)
    parser.add_argument("--port", required=True)
    parser.add_argument("--connect", default="")
    parser.add_argument("--own-output", default="")
    args = parser.parse_args(argv)
    # Ctrl-C, `kill -TERM -PGID`, a closed terminal reach the whole process group: the bridge, not the
    # relay, decides when input ends (it closes our stdin; if it dies, so does the pipe).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    out = sys.stdout.buffer.fileno()
    try:
        fcntl.fcntl(out, _F_SETPIPE_SZ, _PIPE_BYTES)
    except OSError:
        pass  # the default 64 KiB still holds ~5,000 messages
    pipe = _Pipe(out)
    try:
        midi = JackMidiInput(args.client, args.port, args.connect, own_output=args.own_output)
    except PortError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    try:
        midi.start(pipe.write, on_loop=lambda source: pipe.notice(
            f"{source!r} (Sideman's own output) was connected to {midi.name!r}: Sideman would hear itself; disconnected it"))
        encoded = (midi.source or midi.name).encode()  # what it listens to, as rtmidi's inputs name it
        os.write(out, _RECORD.pack(0.0, _READY) + struct.pack("<H", len(encoded)) + encoded)
        os.set_blocking(out, False)  # the JACK callback writes: it must never wait for the bridge
        pipe.ready = True
    except PortError as exc:
        midi.close()
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    # From here nobody reads our stderr: what libjack prints must not fill that pipe and block us.
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    try:
        while sys.stdin.buffer.read(4096):  # blocks with the GIL released; EOF = the bridge is gone
            pass
    finally:
        pipe.finish()  # first: closing the client waits while the server runs no cycle
        midi.close()
    return 0


class _Pipe:
    """The relay's end of the pipe, written from JACK's thread: a record that does not fit is dropped and
    counted (waiting would stall the JACK cycle), and the count follows as soon as there is room again."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._unreported = 0
        self.ready = False  # set once the ready record is written: no record may come before it

    def write(self, data: bytes, t: float) -> None:
        if not self.ready:  # the port's first moments, before the bridge hears from us
            self._unreported += 1
            return
        try:
            if self._unreported:
                os.write(self._fd, _RECORD.pack(float(self._unreported), _DROPPED))
                self._unreported = 0
            os.write(self._fd, _RECORD.pack(t, len(data)) + data)  # at most PIPE_BUF bytes: whole or nothing
        except BlockingIOError:
            self._unreported += 1
        except OSError:
            pass  # the bridge is gone; stdin's EOF ends this process

    def notice(self, text: str) -> None:
        """A line for the bridge's log (not from JACK's thread); lost, not waited for, if the pipe is full."""
        data = text.encode()[:1024]
        try:
            os.write(self._fd, _RECORD.pack(float(len(data)), _NOTICE) + data)
        except OSError:
            pass

    def finish(self) -> None:
        """Report what is still unreported and end the pipe (the bridge reads until its end)."""
        self.ready = False
        try:
            os.set_blocking(self._fd, True)
            if self._unreported:
                os.write(self._fd, _RECORD.pack(float(self._unreported), _DROPPED))
            with open(os.devnull, "wb") as null:  # not close: JACK's thread may still write to this fd
                os.dup2(null.fileno(), self._fd)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(relay_main())
