"""Tests through a real JACK server. Every test in this folder is marked `jack`.

A test that fails while the shared server reports xruns (some client finished a cycle late) runs again,
up to three attempts, and the run lists each repeat at the end: a server that is not realtime (CI's)
repeats or drops a late cycle's MIDI whatever Sideman does. A failure with no xrun fails at once, and a
bug that always fails still fails. Tests marked `private_jack` run their own servers, so the shared
server's xruns say nothing about them.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from _pytest.runner import runtestprotocol

from sideman.bridge.live.jack.watch import stale_wakeups
from tests.bridge.live.jack.helpers import jack_running

_JACK_ATTEMPTS = 3
_HERE = Path(__file__).parent
_REPO = _HERE.parents[3]
_xruns: "_XrunCounter | None" = None
_xruns_tried = False
_runs_again: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.jack)


class _XrunCounter:
    """The server's xrun count, asked of tests/bridge/live/jack/xrun_counter.py (a process of its own)."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.bridge.live.jack.xrun_counter",
                                       f"sideman-test-xruns-{os.getpid()}"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=_REPO)
        self.counting = self._line(10.0) == "ready"

    def _line(self, timeout: float) -> str | None:
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        return self._proc.stdout.readline().strip() if ready else None  # type: ignore[union-attr]

    @property
    def xruns(self) -> int:
        try:
            self._proc.stdin.write("?\n")  # type: ignore[union-attr]
            self._proc.stdin.flush()  # type: ignore[union-attr]
        except OSError:
            return 0
        answer = self._line(5.0)
        return int(answer) if answer and answer.isdigit() else 0

    def close(self) -> None:
        try:
            self._proc.stdin.close()  # type: ignore[union-attr]
            self._proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()


def _xrun_watch() -> _XrunCounter | None:
    global _xruns, _xruns_tried
    if not _xruns_tried and jack_running():
        _xruns_tried = True
        _xruns = _XrunCounter()
    return _xruns if _xruns is not None and _xruns.counting else None


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
