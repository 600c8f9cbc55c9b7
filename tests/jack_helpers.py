"""Test clients on the real JACK MIDI server: the DAW's side of the cable, and a bridge subprocess."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import mido
import rtmidi

from bridge.ports import _quiet_c_stderr

REPO = Path(__file__).resolve().parents[1]


def jack_running() -> bool:
    with _quiet_c_stderr():
        try:
            rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="sideman-test-probe").delete()
        except rtmidi.SystemError:
            return False
    return True


def wait_for_port(kind: str, wanted: str, timeout: float = 10.0) -> None:
    """Wait until a JACK MIDI port whose name contains `wanted` exists ('in' or 'out' seen from a client)."""
    probe = (rtmidi.MidiOut if kind == "in" else rtmidi.MidiIn)(rtapi=rtmidi.API_UNIX_JACK, name="sideman-test-wait")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(wanted in p for p in probe.get_ports()):
                return
            time.sleep(0.02)
        raise TimeoutError(f"no JACK port containing {wanted!r} after {timeout} s: {probe.get_ports()}")
    finally:
        probe.delete()


def wait_connected(a: str, b: str, timeout: float = 5.0) -> None:
    """Wait until JACK shows a connection between ports whose names contain `a` and `b`.

    rtmidi's open_port asks the server to connect; the connection is live from a later process
    cycle, and messages sent before that are lost. Then wait a few periods more.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True).stdout
        port = None
        for line in listing.splitlines():
            if not line.startswith(" "):
                port = line.strip()
            elif port and ((a in port and b in line) or (b in port and a in line)):
                time.sleep(0.02)
                return
        time.sleep(0.01)
    raise TimeoutError(f"JACK never connected {a!r} and {b!r}")


@dataclass
class Stamped:
    msg: mido.Message
    t: float


class DawClient:
    """Plays the DAW: sends into 'Sideman In' and records 'Sideman Out' with receive times."""

    def __init__(self, to_port: str = "Sideman In", from_port: str = "Sideman Out", name: str = "sideman-test-daw") -> None:
        self.received: queue.SimpleQueue[Stamped] = queue.SimpleQueue()
        self.out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=name)
        self.inp = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=name)
        self.inp.ignore_types(sysex=False, timing=False, active_sense=False)
        self.out.open_port(_index(self.out.get_ports(), to_port))
        self.inp.open_port(_index(self.inp.get_ports(), from_port))
        self.inp.set_callback(lambda ev, _: self.received.put(Stamped(mido.Message.from_bytes(ev[0]), time.perf_counter())))
        wait_connected(name, to_port)
        wait_connected(from_port, name)

    def send(self, msg: mido.Message) -> None:
        self.out.send_message(msg.bytes())

    def collect(self, count: int | None = None, timeout: float = 3.0, quiet: float = 0.3) -> list[Stamped]:
        """Messages received: `count` of them (or until `timeout`), or until `quiet` s pass with nothing new."""
        got: list[Stamped] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (count is None or len(got) < count):
            try:
                got.append(self.received.get(timeout=quiet if count is None else 0.05))
            except queue.Empty:
                if count is None:
                    break
        return got

    def close(self) -> None:
        self.inp.cancel_callback()
        for port in (self.out, self.inp):
            port.close_port()
            port.delete()


def _index(ports: list[str], wanted: str) -> int:
    for i, name in enumerate(ports):
        if wanted in name:
            return i
    raise LookupError(f"no JACK port containing {wanted!r}: {ports}")


class BridgeProcess:
    """`sideman run` as a subprocess, started and waited for like a user would."""

    def __init__(self, *args: str, ready_text: str = "listening on", env: dict | None = None, cwd: str | Path | None = None) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--api", "jack", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd or REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.banner = self._read_until(ready_text, timeout=30.0)
        self.ready_seconds = time.perf_counter() - self.started

    def _read_until(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        lines = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if text in line:
                return line
        self.proc.kill()
        out, err = self.proc.communicate()
        raise AssertionError(f"bridge did not become ready: stdout={''.join(lines) + out!r} stderr={err!r}")

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err
