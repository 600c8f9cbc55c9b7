"""Shared fixtures. Tests marked `jack` need a running JACK server; under CI=true they must run, never skip.

A `jack` test that fails while the shared JACK server reports xruns (some client finished a cycle
late) is run again, up to `_JACK_ATTEMPTS` times in all, and the run lists each such attempt at the
end. Why: with a server that is not realtime (CI's) on a shared 2-core machine, a client late for
its cycle makes JACK hand on a stale buffer (the DAW sees a message several times) or drop a cycle's
MIDI, whatever the bridge does (bridge/live/jack/watch.py counts the server's xrun notices). Such xruns come with most
JACK tests here (client start and stop), so in practice a failing JACK test gets three attempts: a
bridge bug that always fails still fails, and one that fails only sometimes shows in that list.
A failure with no xrun fails at once. Tests marked `private_jack` run their own servers: the shared
server's xruns say nothing about them.
"""

from __future__ import annotations

import os

import pytest
from _pytest.runner import runtestprotocol

from sideman.bridge.live.jack.watch import JackWatch, stale_wakeups
from tests.jack_helpers import jack_running

_JACK_ATTEMPTS = 3
_xruns: JackWatch | None = None
_xruns_tried = False
_runs_again: list[str] = []
# Semaphores of closed JACK clients this process still holds (a JACK2 bug: a later client listening to
# this process's senders is then woken in only part of the cycles); named in a repeated attempt's line.
_stale = stale_wakeups


@pytest.fixture(scope="session")
def jack_server() -> None:
    if jack_running():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but no JACK server answers: .ci/run must start `jackd --no-realtime -d dummy` first")
    pytest.skip("no JACK server running (start one: jackd --no-realtime -d dummy -r 48000 -p 64 &)")


def _xrun_watch() -> JackWatch | None:
    global _xruns, _xruns_tried
    if not _xruns_tried and jack_running():
        _xruns_tried = True
        _xruns = JackWatch.open(f"sideman-test-xruns-{os.getpid()}", lambda reason: None, count_xruns=True)
    return _xruns if _xruns is not None and _xruns.counting_xruns else None


def _failure_line(reports: list) -> str:
    failed = next(r for r in reports if r.failed)
    crash = getattr(failed.longrepr, "reprcrash", None)
    if crash is None:
        return f"{failed.when}: failed"
    return f"{failed.when}, {os.path.basename(crash.path)}:{crash.lineno}: {crash.message.splitlines()[0]}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if item.get_closest_marker("jack") is None or item.get_closest_marker("private_jack") is not None:
        return None
    watch = _xrun_watch()
    if watch is None:
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for attempt in range(1, _JACK_ATTEMPTS + 1):
        xruns_before = watch.xruns
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        xruns = watch.xruns - xruns_before
        if not any(r.failed for r in reports) or xruns == 0 or attempt == _JACK_ATTEMPTS:
            break
        stale = _stale()
        _runs_again.append(f"{item.nodeid}: attempt {attempt} failed while JACK reported {xruns} xrun(s) "
                           f"({_failure_line(reports)})"
                           + (f"; this process held the semaphores of closed JACK clients {', '.join(stale)}" if stale else ""))
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_terminal_summary(terminalreporter) -> None:
    if _runs_again:
        terminalreporter.section("JACK tests run again after xruns")
        for line in _runs_again:
            terminalreporter.line(line)


def pytest_sessionfinish() -> None:
    if _xruns is not None:
        _xruns.close()
