"""The live session without a MIDI server: a stop signal never deadlocks `sideman run`; what its banner says."""

from __future__ import annotations

import threading

from sideman.bridge.config import Config
from sideman.bridge.live.inbox import Inbox
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.live.ports import FakeOutput
from sideman.bridge.live.session import LiveSession


def _session() -> tuple[LiveSession, LiveBridge]:
    config = Config().replace("status", quiet=True)
    live = LiveSession(config, api=0, paths=[], started=0.0)
    return live, live.attach(LiveBridge(config, Inbox(8), FakeOutput(), now=lambda: 0.0))


def test_a_signal_landing_while_the_main_thread_holds_its_wait_lock_stops_the_session():
    """A signal handler runs in the main thread between two bytecodes, also inside Event.wait's lock: a
    handler that set that event waited for the lock its own thread held, and Ctrl-C hung `sideman run`."""
    live, bridge = _session()
    handled = threading.Event()

    def main_thread() -> None:
        with bridge._stop._cond:  # where the main thread is, inside bridge.wait(), when the signal lands
            live.on_signal()
        handled.set()

    threading.Thread(target=main_thread, daemon=True).start()
    assert handled.wait(2.0), "the signal handler deadlocked"
    finished = threading.Event()
    threading.Thread(target=lambda: (live.run(), finished.set()), daemon=True).start()
    assert finished.wait(2.0), "the session did not act on the signal"
    assert bridge.wait(0)  # the bridge was told to stop


def test_the_banner_says_the_band_style_plays_first():
    from types import SimpleNamespace

    from sideman.bridge.engines import build_engines, model_paths
    from sideman.bridge.live.ports import API_IDS

    config = Config().replace("engine", style="band")
    paths = model_paths(config)
    live = LiveSession(config, api=API_IDS["jack"], paths=paths, started=0.0)
    live.attach(LiveBridge(config, Inbox(8), FakeOutput(), build_engines(config, paths), now=lambda: 0.0,
                           input_port=SimpleNamespace(name="Sideman In", close=lambda: None)))
    assert "model the band style first (Program Change 1), then chorale-gru.onnx;" in live.banner("0")
