"""The JACK input relay (bridge/live/jack/relay.py) on the real JACK server: messages, stamps, errors, lifetime."""

from __future__ import annotations

import os
import threading
import time

import pytest
import rtmidi

from sideman.bridge.errors import PortNotFoundError
from sideman.bridge.live.inbox import Inbox
from sideman.bridge.live.jack.relay import RelayedInput
from sideman.bridge.live.ports import open_input

pytestmark = pytest.mark.jack


def _source_into(client: str) -> rtmidi.MidiOut:
    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=f"{client}-src")
    index = next(i for i, name in enumerate(out.get_ports()) if name.startswith(f"{client}:"))
    out.open_port(index)
    return out


def test_messages_arrive_whole_in_order_and_stamped_in_the_jack_thread(jack_server):
    client = f"relay-test-{os.getpid()}"
    got: list[tuple[list[int], float, float]] = []
    inbox = Inbox(1000)

    def collect() -> None:  # the engine thread's part: the inbox reads the relay's pipe itself
        deadline = time.monotonic() + 5
        while len(got) < 300 and time.monotonic() < deadline:
            if (r := inbox.get(0.05)) is not None:
                got.append((r.data, r.t, time.perf_counter()))

    inp = open_input(rtmidi.API_UNIX_JACK, client, "Relay In", inbox)
    assert isinstance(inp, RelayedInput) and inp.name == f"{client}-in:Relay In"  # the full name JACK gave it
    src = _source_into(f"{client}-in")  # the relay's own JACK client
    reader = threading.Thread(target=collect)
    try:
        time.sleep(0.1)  # let the connection settle before timing anything
        reader.start()
        before = time.perf_counter()
        sent = []
        for i in range(100):  # three sizes of message, sent in bursts within JACK cycles
            for msg in ([0x90, 36 + i % 48, 1 + i], [0xB3, 7, i], [0xF8]):
                src.send_message(msg)
                sent.append(msg)
            time.sleep(0.001)
        reader.join()
        assert len(got) == 300, f"only {len(got)} of 300 messages arrived"
    finally:
        src.close_port()
        src.delete()
        inp.close()
    assert [d for d, _, _ in got] == sent
    stamps = [t for _, t, _ in got]
    assert stamps == sorted(stamps) and before <= stamps[0]
    # The stamp is the child's perf_counter (CLOCK_MONOTONIC, shared by processes), taken before ours.
    assert all(t <= seen for _, t, seen in got)


def test_what_the_relay_sent_before_close_is_still_read_after_it(jack_server):
    """The bridge drains its inbox after closing the input: a note-off in flight must reach the books."""
    client = f"relay-test-{os.getpid()}"
    inbox = Inbox(1000)
    inp = open_input(rtmidi.API_UNIX_JACK, client, "Relay In", inbox)
    src = _source_into(f"{client}-in")
    try:
        time.sleep(0.1)
        for note in range(40, 60):
            src.send_message([0x80, note, 0])
        time.sleep(0.1)  # delivered by JACK into the pipe; nobody has read it
        assert len(inbox) >= 1
    finally:
        src.close_port()
        src.delete()
        inp.close()
    got = []
    while (r := inbox.get_nowait()) is not None:
        got.append(r.data)
    assert got == [[0x80, note, 0] for note in range(40, 60)]
    assert inbox.get(0.01) is None and inp.lost is None


def test_an_unknown_port_to_connect_is_the_same_one_line_error(jack_server):
    with pytest.raises(PortNotFoundError, match="no MIDI input port matches 'No Such Port 9000'"):
        RelayedInput(f"relay-test-{os.getpid()}", "Relay In", connect="No Such Port 9000")


def test_the_relay_process_ends_with_close_and_with_its_parent_pipe(jack_server):
    inp = RelayedInput(f"relay-test-{os.getpid()}", "Relay In")
    proc = inp._proc
    assert proc.poll() is None
    inp.close()
    assert proc.poll() == 0
    # A bridge killed with -9 closes the relay's stdin with it: the relay exits by itself.
    inp = RelayedInput(f"relay-test-{os.getpid()}", "Relay In")
    proc = inp._proc
    proc.stdin.close()
    assert proc.wait(timeout=5) == 0
    inp.close()


def test_a_relay_that_hangs_while_starting_is_killed_with_one_line(monkeypatch):
    """No JACK needed: the 'relay' here is a process that never answers."""
    import subprocess

    from sideman.bridge.live.jack import relay as midi_relay
    from sideman.bridge.errors import PortError

    started = []
    real_popen = subprocess.Popen

    def hanging(cmd, **kwargs):
        started.append(real_popen(["sleep", "30"], **kwargs))
        return started[-1]

    monkeypatch.setattr(midi_relay.subprocess, "Popen", hanging)
    monkeypatch.setattr(midi_relay, "_START_TIMEOUT", 0.3)
    t0 = time.monotonic()
    with pytest.raises(PortError, match="did not start within 0.3 s"):
        RelayedInput("relay-test-hang", "Relay In")
    assert time.monotonic() - t0 < 5 and started[0].poll() is not None


def test_the_relay_never_waits_for_a_full_pipe_and_its_drops_reach_the_reader():
    """No JACK needed: the relay's writer (called in JACK's thread) on a real pipe nobody reads."""
    from sideman.bridge.live.jack.relay import _Pipe

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    pipe = _Pipe(write_end)
    pipe.write(b"\x90\x3c\x64", 1.0)  # before the ready record: dropped and counted, never written
    pipe.ready = True
    for i in range(20_000):  # ~260 kB: more than a default pipe holds
        pipe.write(bytes([0x90, i % 128, 100]), 2.0)
    inp = RelayedInput.__new__(RelayedInput)  # only its decoding: no relay process here
    inp._partial, inp.dropped = b"", 0
    got = []
    os.set_blocking(read_end, False)
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except BlockingIOError:
            break
        got += inp._decode(chunk)
    assert 0 < len(got) < 20_000 and inp.dropped == 1  # the one before ready; those of the full pipe follow once there is room
    pipe.write(b"\x80\x3c\x00", 3.0)
    got += inp._decode(os.read(read_end, 65536))
    assert inp.dropped == 1 + 20_000 + 1 - len(got) and got[-1] == ([0x80, 0x3C, 0], 3.0)  # every message read or counted
    os.close(read_end)
    os.close(write_end)
