"""What Sideman hears, live: the key and chord on the status line, the key lock by config and by CC."""

from __future__ import annotations

import pytest

from sideman.bridge.config import Config
from sideman.bridge.engines import build_engines, engine_settings, locked_key, model_paths
from sideman.bridge.errors import ConfigError
from sideman.bridge.live.inbox import Inbox, Received
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.live.ports import FakeOutput
from sideman.bridge.live.status import status_text


def live_bridge(config: Config) -> LiveBridge:
    bridge = LiveBridge(config, Inbox(64), FakeOutput(), build_engines(config, model_paths(config)), None, now=lambda: 0.0)
    bridge.output._flush_seconds = 0
    return bridge


def play(bridge: LiveBridge, notes: list[int], step: float = 0.15) -> None:
    t = 0.0
    for pitch in notes:
        bridge.handle(Received([0x90, pitch, 90], t))
        bridge.poll_clock(t + step * 2)
        bridge.handle(Received([0x80, pitch, 0], t + step * 2))
        t += step * 2
        bridge.poll_clock(t)


def test_the_status_line_says_the_key_it_hears_and_a_cc_freezes_it():
    bridge = live_bridge(Config().replace("bridge", clock="internal"))
    assert "key -" in status_text(bridge)
    play(bridge, [67, 71, 74, 72, 71, 69, 67, 66, 67, 74, 71, 67])
    assert "key G major" in status_text(bridge) and "locked" not in status_text(bridge)
    bridge.handle(Received([0xB0, bridge.controls.key_freeze, 127], 10.0))
    assert "key G major" in status_text(bridge) and "locked" in status_text(bridge)
    play(bridge, [65, 68, 72, 70, 68, 65, 63, 61] * 2)
    assert "key G major 100% locked" in status_text(bridge)
    bridge.handle(Received([0xB0, bridge.controls.key_freeze, 0], 30.0))
    bridge.poll_clock(30.3)
    assert "locked" not in status_text(bridge)


@pytest.mark.parametrize("text, key", [("", None), ("D", 2), ("e minor", 16), ("F# minor", 18), ("Bb", 10)])
def test_a_key_named_in_the_config_locks_the_engine(text, key):
    assert locked_key(text) == key
    config = Config().replace("engine", key=text)
    settings = engine_settings(config, build_engines(Config(), model_paths(Config()))[0].contract)
    assert settings.key_lock == key


def test_a_key_that_is_no_key_is_one_clear_line():
    with pytest.raises(ConfigError, match=r"\[engine\] key = 'H dorian': expected a key such as"):
        locked_key("H dorian")
