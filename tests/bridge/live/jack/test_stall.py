"""A JACK server that stops running cycles (SIGSTOP) while Sideman sends: with the StallGuard the sends
return at once and, once the server runs again, All Notes Off ends whatever the dropped note-offs left.
Without it, RtMidi waits for room in its ring buffer holding the GIL: the sending process stands still."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from benchmarks.clients import parse_dump_line
from tests.bridge.live.jack.helpers import REPO, PrivateJackServer

pytestmark = [pytest.mark.jack, pytest.mark.private_jack]

SENDER = r"""
import sys, time
import rtmidi
from sideman.bridge.live.jack.watch import JackWatch
from sideman.bridge.live.ports import RtMidiOutput, SilencingOutput

port = RtMidiOutput(rtmidi.API_UNIX_JACK, "sideman-test-stall", "out")
out = SilencingOutput(port)  # as in sideman run: its books name the channels that get All Notes Off
watch = JackWatch.open("sideman-test-stall watch", lambda reason: None)
if sys.argv[1] == "guarded":
    port.guard_with(watch.last_frame_time, out.notes.channels_used)
print("ready", flush=True)
sys.stdin.readline()
for i in range(5000):  # 10,000 messages, ~70 kB: four times RtMidi's buffer
    out.send_bytes(bytes([0x90 | i % 3, 60 + i % 12, 100]))
    out.send_bytes(bytes([0x80 | i % 3, 60 + i % 12, 0]))
print(f"sent; dropped {port.dropped_in_stalls}", flush=True)
sys.stdin.readline()
out.send_bytes(bytes([0xF8]))  # the first message after the server runs again
print("more", flush=True)
sys.stdin.readline()
port.close()
watch.close()
"""


def _line(proc: subprocess.Popen, timeout: float) -> str | None:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else None


def _sender(mode: str, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SENDER, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)})
    assert _line(proc, 20) == "ready", proc.stderr.read() if proc.poll() is not None else "no answer"
    return proc


def test_sends_never_wait_on_a_stopped_jack_server_and_no_note_is_left_sounding() -> None:
    server = PrivateJackServer(period=64)
    env = {**os.environ, **server.env}
    procs: list[subprocess.Popen] = []
    try:
        dump = subprocess.Popen(["jack_midi_dump", "-a", "sideman-test-stall-daw"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env)
        procs.append(dump)
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(dump.stdout), daemon=True).start()
        guarded = _sender("guarded", env)
        procs.append(guarded)
        subprocess.run(["jack_connect", "sideman-test-stall:out", "sideman-test-stall-daw:input"], env=env, check=True)
        time.sleep(0.3)

        os.kill(server.proc.pid, signal.SIGSTOP)
        guarded.stdin.write("go\n")
        guarded.stdin.flush()
        sent = _line(guarded, 20)
        assert sent is not None and sent.startswith("sent; dropped "), "the guarded sends waited on the stopped server"
        dropped = int(sent.split()[-1])
        assert 0 < dropped < 10_000
        os.kill(server.proc.pid, signal.SIGCONT)
        time.sleep(0.3)
        guarded.stdin.write("more\n")
        guarded.stdin.flush()
        assert _line(guarded, 10) == "more"
        time.sleep(0.5)

        received = [parsed[1] for parsed in map(parse_dump_line, list(lines)) if parsed is not None]
        assert 0 < len(received) < 10_000  # what fitted before the stall, not all of it
        all_notes_off = [i for i, data in enumerate(received) if data[0] & 0xF0 == 0xB0 and data[1] == 123]
        assert sorted(received[i][0] & 0x0F for i in all_notes_off) == [0, 1, 2]
        sounding: set[tuple[int, int]] = set()
        for data in received:
            kind, channel = data[0] & 0xF0, data[0] & 0x0F
            if kind == 0x90 and data[2] > 0:
                sounding.add((channel, data[1]))
            elif kind == 0x80:
                sounding.discard((channel, data[1]))
            elif kind == 0xB0 and data[1] == 123:
                sounding = {(c, n) for c, n in sounding if c != channel}
        assert not sounding, f"left sounding at the DAW: {sorted(sounding)}"
        print(f"stopped server: the guarded sender dropped {dropped} of 10,000 messages; the DAW got {len(received)}, "
              f"All Notes Off on channels 1-3 after the server ran again")

        # The same sends without the guard: the sender stands still until the server runs again. A second
        # sender tries if the first did not: on a loaded machine the stop has once come too late for it.
        for attempt in (1, 2):
            unguarded = _sender("unguarded", env)
            procs.append(unguarded)
            os.kill(server.proc.pid, signal.SIGSTOP)
            unguarded.stdin.write("go\n")
            unguarded.stdin.flush()
            waited = _line(unguarded, 5) is None
            os.kill(server.proc.pid, signal.SIGCONT)
            if waited or attempt == 2:
                break
        assert waited, "RtMidi no longer waits for room: the guard may not be needed"
        assert (_line(unguarded, 20) or "").startswith("sent; dropped 0")
    finally:
        if server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGCONT)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        server.stop()
