"""The engine thread asks for realtime scheduling (Linux) and runs on as an ordinary thread without it."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from sideman.bridge.config import Config
from sideman.bridge.core.engine import Engine, EngineSettings
from sideman.bridge.live.inbox import Inbox
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.live.ports import FakeOutput
from sideman.bridge.live.realtime import JACK_NOT_REALTIME, make_this_thread_realtime, ordinary_under_jack
from tests.fakes import FakeStepModel
from tests.bridge.live.jack.helpers import realtime_allowed

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_FIFO per thread is Linux's")


def thread_policy(native_id: int) -> tuple[str, int]:
    """(policy name, priority) of a thread of this process, by its native id (Linux)."""
    policy = os.sched_getscheduler(native_id) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}
    return names.get(policy, str(policy)), os.sched_getparam(native_id).sched_priority


def started_bridge(priority: int) -> LiveBridge:
    config = Config().replace("bridge", clock="midi", realtime_priority=priority)
    engine = Engine(FakeStepModel(), EngineSettings(part_channels=(1, 2, 3)))
    bridge = LiveBridge(config, Inbox(64), FakeOutput(), [engine])
    bridge.start()
    return bridge


def handles_input(bridge: LiveBridge) -> bool:
    bridge.inbox.put([0xF8], time.perf_counter())
    deadline = time.monotonic() + 5
    while bridge.stats.received == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return bridge.stats.received == 1


def test_the_engine_thread_alone_runs_realtime_when_the_system_allows():
    if not realtime_allowed():
        pytest.skip("no realtime rights here (not root, no rtprio limit)")
    bridge = started_bridge(1)
    try:
        assert bridge.scheduling == "realtime priority 1"
        assert thread_policy(bridge._thread.native_id) == ("SCHED_FIFO", 1)
        assert thread_policy(threading.get_native_id())[0] == "SCHED_OTHER"  # the caller keeps its own
        assert handles_input(bridge)
    finally:
        bridge.close()


def test_priority_zero_keeps_an_ordinary_thread():
    bridge = started_bridge(0)
    try:
        assert bridge.scheduling == "ordinary (realtime_priority = 0 in the config)"
        assert thread_policy(bridge._thread.native_id)[0] == "SCHED_OTHER"
        assert handles_input(bridge)
    finally:
        bridge.close()


def test_under_jack_only_a_server_known_to_be_realtime_lets_the_engine_be_realtime():
    assert ordinary_under_jack(True) == ""
    assert ordinary_under_jack(False) == JACK_NOT_REALTIME
    assert ordinary_under_jack(None).startswith("could not ask")
    bridge = LiveBridge(Config(), Inbox(64), FakeOutput(), [])
    bridge.start(ordinary_because=ordinary_under_jack(False))
    try:
        assert bridge.scheduling == f"ordinary ({JACK_NOT_REALTIME})"
        assert thread_policy(bridge._thread.native_id)[0] == "SCHED_OTHER"
    finally:
        bridge.close()


def test_without_rights_the_bridge_runs_as_an_ordinary_thread_and_says_why(monkeypatch):
    def refuse(pid, policy, param):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    bridge = started_bridge(1)
    try:
        assert bridge.scheduling.startswith("ordinary (no realtime rights")
        assert thread_policy(bridge._thread.native_id)[0] == "SCHED_OTHER"
        assert handles_input(bridge)
    finally:
        bridge.close()


def test_a_realtime_thread_does_not_hand_its_priority_to_children_it_forks():
    if not realtime_allowed():
        pytest.skip("no realtime rights here (not root, no rtprio limit)")
    result: list[object] = []

    def fork_from_a_realtime_thread() -> None:
        result.append(make_this_thread_realtime(1))
        pid = os.fork()
        if pid == 0:
            policy = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
            os._exit(0 if policy == os.SCHED_OTHER else 1)
        result.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))

    worker = threading.Thread(target=fork_from_a_realtime_thread)
    worker.start()
    worker.join()
    assert result == [None, 0]
