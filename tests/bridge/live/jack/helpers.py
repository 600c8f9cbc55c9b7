"""Test clients on the real JACK MIDI server: the DAW's side of the cable, and a bridge subprocess."""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import mido
import rtmidi

from benchmarks.clients import parse_dump_line
from sideman.bridge.live.jack.watch import JackWatch
from sideman.bridge.live.port_names import _quiet_c_stderr
from tests.paths import REPO



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
    t: float  # perf_counter() in the test's callback
    jt: float = 0.0  # JACK cycle time (rtmidi's deltas summed), for timing between messages on one port


_daw_tags = iter(range(1, 1_000_000))


class DawClient:
    """Plays the DAW: sends into 'Sideman In' and records 'Sideman Out' with receive times."""

    def __init__(self, to_port: str = "Sideman In", from_port: str = "Sideman Out", name: str | None = None) -> None:
        # A name of its own: several test runs may share one JACK server, and ports are found by substring.
        name = name or f"sideman-test-daw-{os.getpid()}-{next(_daw_tags)}"
        self.received: queue.SimpleQueue[Stamped] = queue.SimpleQueue()
        self.out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=name)
        self.inp = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=f"{name}-rx")
        self.inp.ignore_types(sysex=False, timing=False, active_sense=False)
        self.out.open_port(_index(self.out.get_ports(), to_port))
        self.inp.open_port(_index(self.inp.get_ports(), from_port), "daw in")
        self.inp_port_name = f"{name}-rx:daw in"
        self._jack_t = 0.0
        self.inp.set_callback(self._on_message)
        wait_connected(name, to_port)
        wait_connected(from_port, name)

    def _on_message(self, event: tuple[list[int], float], _data: object) -> None:
        # rtmidi's JACK input stamps each event with the server's time at its process cycle; the
        # running sum of its deltas is a clock shared by everything this port receives.
        self._jack_t += event[1]
        self.received.put(Stamped(mido.Message.from_bytes(event[0]), time.perf_counter(), self._jack_t))

    def send(self, msg: mido.Message) -> None:
        self.out.send_message(msg.bytes())

    def collect(self, count: int | None = None, timeout: float = 3.0, quiet: float = 0.3) -> list[Stamped]:
        """Messages received: `count` of them (or until `timeout`), or until `quiet` s pass with nothing new."""
        got: list[Stamped] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and (count is None or len(got) < count):
            try:  # never past the deadline: a caller may time its next send by it
                got.append(self.received.get(timeout=min(quiet if count is None else 0.05, left)))
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
            [sys.executable, "-m", "sideman.bridge", "run", "--api", "jack", *args],
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


class DawTransport:
    """Debian's jack_midi_clock (MIDI clock + Start/Stop/Continue/SPP from the JACK transport), driven
    by jack_transport as timecode master: the same messages a DAW sends when you press play."""

    def __init__(self, bpm: float = 120.0) -> None:
        self.clock = subprocess.Popen(["jack_midi_clock", "-b", str(bpm)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.transport = subprocess.Popen(["jack_transport"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        try:
            wait_for_port("out", "mclk_out")  # a source: listed by MidiIn
        except BaseException:
            self.close()
            raise
        self.command("master")
        self.command(f"tempo {bpm}")
        self.command("stop")
        self.command("locate 0")

    def command(self, text: str) -> None:
        self.transport.stdin.write(text + "\n")
        self.transport.stdin.flush()

    def connect(self, port_substring: str) -> None:
        """Connect the clock output to a JACK port whose full name contains `port_substring`."""
        listing = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split("\n")
        target = next(p for p in listing if port_substring in p)
        subprocess.run(["jack_connect", "jack_midi_clock:mclk_out", target], check=True)
        wait_connected("mclk_out", port_substring)

    def close(self) -> None:
        try:
            self.command("stop")
            self.command("quit")
        except (BrokenPipeError, OSError):
            pass
        for proc in (self.transport, self.clock):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def jack_period_seconds() -> float:
    """The running server's period in seconds (jack_bufsize / jack_samplerate)."""
    size = int(subprocess.run(["jack_bufsize"], capture_output=True, text=True).stdout.split()[0])
    rate = int(subprocess.run(["jack_samplerate"], capture_output=True, text=True).stdout.split()[0])
    return size / rate


# -- helpers for the fault, fuzz and security tests (appended; the ones above are unchanged) ----------

class PrivateJackServer:
    """A JACK server of the test's own (dummy backend, its own name), for tests that stop it on purpose."""

    def __init__(self, period: int = 64, name: str = "sideman-test-private") -> None:
        # A fixed name, not a unique one: JACK's shm registry has 8 server slots, and the slot of a
        # server that died uncleanly is only reclaimed when a server of the same name starts again.
        if subprocess.run(["jack_lsp"], capture_output=True, env={**os.environ, "JACK_DEFAULT_SERVER": name}).returncode == 0:
            name = f"{name}-{os.getpid()}"  # another test run has it right now
        self.name = name
        self.env = {"JACK_DEFAULT_SERVER": self.name}
        self.proc = subprocess.Popen(["jackd", "-n", self.name, "--no-realtime", "-d", "dummy", "-r", "48000", "-p", str(period)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while subprocess.run(["jack_lsp"], capture_output=True, env={**os.environ, **self.env}).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"could not start the private JACK server {self.name}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Clients of a server that went away leave their semaphores behind: remove ours (only ours).
        for leftover in Path("/dev/shm").glob(f"jack*{self.name}*"):
            try:
                leftover.unlink()
            except OSError:
                pass


def unmatched_note_ons(messages) -> set[tuple[int, int]]:
    """(channel, note) pairs a stream leaves sounding: note-ons minus note-offs, All Notes Off clearing a channel."""
    on: dict[tuple[int, int], int] = {}
    for m in messages:
        if m.type == "note_on" and m.velocity > 0:
            on[(m.channel, m.note)] = on.get((m.channel, m.note), 0) + 1
        elif m.type in ("note_on", "note_off"):
            on[(m.channel, m.note)] = max(0, on.get((m.channel, m.note), 0) - 1)
        elif m.type == "control_change" and m.control == 123:
            on = {k: v for k, v in on.items() if k[0] != m.channel}
    return {k for k, v in on.items() if v}


_port_tags = iter(range(1, 1_000_000))


def private_port_names() -> tuple[str, str, str]:
    """([ports] TOML, input name, output name): bridge ports no other test run's client will mistake for
    its own when several runs share one JACK server (DawClient finds ports by substring). The TOML also
    lets the parts answer from the first step ([engine] listen_beats = 0): these tests time the live path."""
    tag = f"{os.getpid()}-{next(_port_tags)}"
    inp, out = f"Sideman In {tag}", f"Sideman Out {tag}"
    return f'[engine]\nlisten_beats = 0\n[ports]\ninput_name = "{inp}"\noutput_name = "{out}"\n', inp, out


class WrappedBridgeProcess(BridgeProcess):
    """BridgeProcess started under a wrapper command (strace, ...), the wrapper's pid as `proc.pid`."""

    def __init__(self, wrapper: list[str], *args: str, ready_text: str = "listening on", env: dict | None = None,
                 cwd: str | Path | None = None) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "sideman.bridge", "run", "--api", "jack", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd or REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.banner = self._read_until(ready_text, timeout=60.0)
        self.ready_seconds = time.perf_counter() - self.started


class DumpDawClient(DawClient):
    """DawClient whose receiving side is JACK's own `jack_midi_dump` (C) instead of an rtmidi input.

    An rtmidi input either runs a Python callback in JACK's process thread (it waits for the GIL;
    late cycles make JACK drop or repeat MIDI) or
    queues for polling (python-rtmidi 1.5 / RtMidi 5.0's queue is not thread-safe: a test segfaulted
    in get_message). The sending side stays rtmidi: sending only writes a ring buffer.
    """

    def __init__(self, to_port: str = "Sideman In", from_port: str = "Sideman Out", name: str = "sideman-test-daw") -> None:
        self.received = queue.SimpleQueue()
        self.out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=name)
        self.out.open_port(_index(self.out.get_ports(), to_port))
        self._rate = int(subprocess.run(["jack_samplerate"], capture_output=True, text=True).stdout.split()[0])
        dump_name = f"{name}-dump-{os.getpid()}-{next(_port_tags)}"
        self._dump = subprocess.Popen(["jack_midi_dump", "-a", dump_name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for_port("in", f"{dump_name}:input")
        source = next(p for p in subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.splitlines() if from_port in p)
        subprocess.run(["jack_connect", source, f"{dump_name}:input"], check=True)
        self.inp_port_name = f"{dump_name}:input"
        wait_connected(name, to_port)
        wait_connected(from_port, dump_name)

    def _read(self) -> None:
        for line in self._dump.stdout:
            parsed = parse_dump_line(line)
            if parsed is None:
                continue
            stamp, data = parsed
            try:
                msg = mido.Message.from_bytes(data)
            except (ValueError, IndexError, KeyError):
                continue
            self.received.put(Stamped(msg, time.perf_counter(), int(stamp) / self._rate))

    def close(self) -> None:
        self.out.close_port()
        self.out.delete()
        self._dump.terminate()
        try:
            self._dump.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._dump.kill()
            self._dump.wait()
        self._reader.join(timeout=5)


def realtime_allowed() -> bool:
    """Whether this process may give a thread SCHED_FIFO (root or an rtprio limit); tried on a throwaway thread."""
    from sideman.bridge.live.realtime import make_this_thread_realtime

    answer: list[str | None] = []
    probe = threading.Thread(target=lambda: answer.append(make_this_thread_realtime(1)))
    probe.start()
    probe.join()
    return answer[0] is None


_PROCESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p)


@contextlib.contextmanager
def late_jack_client(late_cycles: int = 5, oversleep: float = 0.01):
    """A JACK client on the default server whose process callback oversleeps its first `late_cycles`
    cycles (0.01 s is 7.5 periods of 64 frames at 48 kHz): the server reports xruns, as for any late client."""
    from sideman.bridge.live.jack.watch import _NO_START_SERVER, _libjack

    lib = _libjack()
    lib.jack_set_process_callback.argtypes = [ctypes.c_void_p, _PROCESS, ctypes.c_void_p]
    lib.jack_deactivate.argtypes = [ctypes.c_void_p]
    left = [late_cycles]

    def process(_frames: int, _arg: object) -> int:
        if left[0] > 0:
            left[0] -= 1
            time.sleep(oversleep)
        return 0

    callback = _PROCESS(process)  # kept referenced until the client is closed
    client = lib.jack_client_open(f"sideman-test-late-{os.getpid()}".encode(), _NO_START_SERVER, ctypes.byref(ctypes.c_int(0)))
    assert client, "cannot open a JACK client"
    try:
        assert lib.jack_set_process_callback(client, callback, None) == 0 and lib.jack_activate(client) == 0
        yield
    finally:
        lib.jack_deactivate(client)
        lib.jack_client_close(client)


def jack_server_realtime(name: str = "sideman-test-probe") -> bool | None:
    """Whether the default JACK server (JACK_DEFAULT_SERVER) runs realtime; None if it cannot be asked."""
    watch = JackWatch.open(name, lambda reason: None)
    if watch is None:
        return None
    try:
        return watch.server_realtime
    finally:
        watch.close()
