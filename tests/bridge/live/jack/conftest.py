"""Tests through a real JACK server. Every test in this folder is marked `jack`.

A test that fails while the shared server reports xruns (some client finished a cycle late) runs again,
up to three attempts, and the run lists each repeat at the end: a server that is not realtime (CI's)
repeats or drops a late cycle's MIDI whatever Sideman does. A failure with no xrun fails at once, and a
bug that always fails still fails. Tests marked `private_jack` run their own servers, so the shared
server's xruns say nothing about them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _pytest.runner import runtestprotocol

from sideman.bridge.live.jack.watch import JackWatch, stale_wakeups
from tests.bridge.live.jack.helpers import jack_running

_JACK_ATTEMPTS = 3
_HERE = Path(__file__).parent
_xruns: JackWatch | None = None
_xruns_tried = False
_runs_again: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.jack)


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
        stale = stale_wakeups()
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
