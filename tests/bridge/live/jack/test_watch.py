"""JackWatch's xrun count, and what `sideman run` tells the musician about xruns."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time

import pytest

from sideman.bridge.live.jack import watch as watch_module
from sideman.bridge.live.jack.watch import REOPEN_ATTEMPTS, JackWatch
from tests.bridge.live.jack.helpers import BridgeProcess, late_jack_client, private_port_names

pytestmark = pytest.mark.jack


def _wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


@pytest.mark.parametrize("counter", ["native", "python"])
def test_the_watch_counts_a_real_late_client(jack_server, monkeypatch, counter) -> None:
    if counter == "python":  # as where libc has no unnamed semaphores
        monkeypatch.setattr(watch_module, "_native_counter", lambda: None)
    watch = JackWatch.open("sideman-test-xruns-check", lambda reason: None, count_xruns=True)
    assert watch is not None and watch.counting_xruns
    try:
        before = watch.xruns
        with late_jack_client():
            assert _wait_for(lambda: watch.xruns > before)
    finally:
        watch.close()


def test_the_count_goes_on_while_a_thread_holds_the_gil(jack_server) -> None:
    # A Python callback would wait for the GIL; sideman.bridge.live.jack.watch counts without it.
    watch = JackWatch.open("sideman-test-xruns-gil", lambda reason: None, count_xruns=True)
    assert watch is not None and watch.counting_xruns
    getvalue = ctypes.PyDLL(ctypes.util.find_library("c")).sem_getvalue  # PyDLL: keeps the GIL while it reads
    getvalue.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    value = ctypes.c_int(0)
    interval = sys.getswitchinterval()
    try:
        with late_jack_client(late_cycles=3):
            getvalue(watch._native.arg, ctypes.byref(value))
            before = value.value
            sys.setswitchinterval(5.0)  # no other thread of this process gets the GIL while this one spins
            deadline = time.monotonic() + 2.0
            while value.value == before and time.monotonic() < deadline:
                getvalue(watch._native.arg, ctypes.byref(value))
            sys.setswitchinterval(interval)
        assert value.value > before
    finally:
        sys.setswitchinterval(interval)
        watch.close()


def test_a_watch_that_does_not_count_hears_no_xruns(jack_server) -> None:
    watch = JackWatch.open("sideman-test-xruns-quiet", lambda reason: None)
    assert watch is not None and not watch.counting_xruns
    try:
        with late_jack_client():
            time.sleep(0.5)
        assert watch.xruns == 0
    finally:
        watch.close()


def test_sideman_run_says_how_many_xruns_the_server_reported(jack_server, tmp_path) -> None:
    ports, _, _ = private_port_names()
    config = tmp_path / "ports.toml"
    config.write_text(ports)
    bridge = BridgeProcess("--thru", "--no-engine", "--no-record", "--quiet", "--config", str(config))
    try:
        with late_jack_client():
            time.sleep(0.5)
    finally:
        code, out, err = bridge.terminate(signal.SIGTERM)
    assert code == 0, err
    line = next((line for line in out.splitlines() if line.startswith("The JACK server reported ")), "")
    assert int(line.split()[4]) >= 1, out
    assert "may drop or repeat MIDI" in line and ("Run JACK realtime" in line or "larger JACK period" in line)


class _BridgeStub:
    def __init__(self, output) -> None:
        from sideman.bridge.live.ports import SilencingOutput

        self.output = SilencingOutput(output)
        self.stops = 0

    def request_stop(self) -> None:
        self.stops += 1


def _jack_ports() -> str:
    import subprocess

    return subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout


def test_sideman_run_reopens_its_jack_clients_while_one_holds_a_closed_client_s_semaphore(jack_server, caplog) -> None:
    import rtmidi

    from sideman.bridge.live.ports import RtMidiOutput
    from sideman.bridge.live.session import open_jack_watch

    client = f"sideman-test-stale-{os.getpid()}"
    output = RtMidiOutput(rtmidi.API_UNIX_JACK, client, "Sideman Out")
    bridge = _BridgeStub(output)
    first_client = output._midi
    answers = [["0_default_jack_lsp"], []]
    watch = open_jack_watch(bridge, client, stale=lambda: answers.pop(0))
    try:
        assert output._midi is not first_client  # closed and opened again
        assert watch is not None and watch.counting_xruns
        assert _wait_for(lambda: f"{client}:Sideman Out" in _jack_ports())
        assert not any("still holds" in r.message for r in caplog.records)
        output.send_bytes(bytes([0x90, 60, 100]))  # the reopened client sends
    finally:
        if watch is not None:
            watch.close()
        bridge.output.close()
    assert bridge.stops == 0


def test_sideman_run_says_so_when_its_jack_clients_stay_stale(jack_server, caplog) -> None:
    import rtmidi

    from sideman.bridge.live.ports import RtMidiOutput
    from sideman.bridge.live.session import open_jack_watch

    client = f"sideman-test-stale2-{os.getpid()}"
    output = RtMidiOutput(rtmidi.API_UNIX_JACK, client, "Sideman Out")
    bridge = _BridgeStub(output)
    reopened = []
    real_reopen = output.reopen
    output.reopen = lambda: (reopened.append(1), real_reopen())
    with caplog.at_level("WARNING", logger="sideman"):
        watch = open_jack_watch(bridge, client, stale=lambda: ["0_default_jack_lsp"])
    try:
        assert len(reopened) == REOPEN_ATTEMPTS
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1 and "0_default_jack_lsp" in warnings[0] and "restart Sideman" in warnings[0]
        assert f"after reopening {REOPEN_ATTEMPTS} times" in warnings[0]
        assert watch is not None and watch.counting_xruns
    finally:
        if watch is not None:
            watch.close()
        bridge.output.close()
