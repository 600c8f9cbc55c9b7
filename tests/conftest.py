"""Shared fixtures. Tests that need a running JACK server take `jack_server`: without one they skip, and
under CI=true they fail instead (CI must run them). They live in tests/bridge/live/jack/, whose conftest
marks them `jack` and says when one ran again. Every test runs with an empty config home of its own
(XDG_CONFIG_HOME): the tester's own sideman.toml must not change what a test sees.
"""

from __future__ import annotations

import os

import pytest

from tests.bridge.live.jack.helpers import jack_running


@pytest.fixture(scope="session", autouse=True)
def empty_config_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config-home")))
        yield


@pytest.fixture(scope="session")
def jack_server() -> None:
    if jack_running():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but no JACK server answers: .ci/run must start `jackd --no-realtime -d dummy` first")
    pytest.skip("no JACK server running (start one: jackd --no-realtime -d dummy -r 48000 -p 64 &)")
