"""JackWatch's xrun count, and what `sideman run` tells the musician about xruns."""

from __future__ import annotations

import signal
import time

import pytest

from bridge.jack_watch import JackWatch
from tests.jack_helpers import BridgeProcess, late_jack_client, private_port_names

pytestmark = pytest.mark.jack


def _wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_the_watch_counts_a_real_late_client(jack_server) -> None:
    watch = JackWatch.open("sideman-test-xruns-check", lambda reason: None, count_xruns=True)
    assert watch is not None and watch.counting_xruns
    try:
        before = watch.xruns
        with late_jack_client():
            assert _wait_for(lambda: watch.xruns > before)
    finally:
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
