"""Shared fixtures. Tests marked `jack` need a running JACK server; under CI=true they must run, never skip."""

from __future__ import annotations

import os

import pytest

from tests.jack_helpers import jack_running


@pytest.fixture(scope="session")
def jack_server() -> None:
    if jack_running():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but no JACK server answers: .ci/run must start `jackd --no-realtime -d dummy` first")
    pytest.skip("no JACK server running (start one: jackd --no-realtime -d dummy -r 48000 -p 64 &)")
