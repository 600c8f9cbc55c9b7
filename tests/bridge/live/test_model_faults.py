"""Faults: a failing model, a vanishing client or JACK server, signals, kill -9, bad files, a bad disk.

What the user sees is checked as the user would: exit codes, the one line on stderr, no traceback,
the notes ended at the DAW, and a session MIDI file that loads.
"""

from __future__ import annotations

import logging

import mido
import numpy as np
import pytest

from sideman.bridge.config import Config
from sideman.bridge.core.engine import Engine, EngineSettings
from sideman.bridge.live.inbox import Inbox, Received
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.live.ports import FakeOutput
from sideman.bridge.model.runtime import OnnxStepModel
from sideman.bridge.engines import DEFAULT_MODEL
from sideman.bridge.live.status import status_text
from tests.fakes import FakeStepModel
from tests.bridge.live.jack.helpers import unmatched_note_ons

PART_CHANNELS = (1, 2, 3)
PULSE = 60.0 / (120 * 24)


# -- a model that fails (fake ports, no JACK) ---------------------------------------------------------

def live_bridge(model, thru=True):
    config = Config().replace("bridge", clock="midi", thru=thru)
    out = FakeOutput()
    bridge = LiveBridge(config, Inbox(64), out, [Engine(model, EngineSettings(part_channels=PART_CHANNELS))], now=lambda: 0.0)
    bridge.output._flush_seconds = 0
    return bridge, out


def feed(bridge, data, t):
    bridge.handle(Received(list(data), t))


def clock(bridge, pulses, t):
    for _ in range(pulses):
        feed(bridge, [0xF8], t)
        t += PULSE
    return t


def parts_sounding(messages):
    return {k for k in unmatched_note_ons(messages) if k[0] in PART_CHANNELS}


def test_a_model_that_raises_is_logged_once_silenced_and_retried_while_thru_and_clock_go_on(caplog):
    model = FakeStepModel(fail_at=set(range(8, 20)))  # steps 8..19 fail, then the model works again
    bridge, out = live_bridge(model)
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 72, 100], 0.0)
    t = clock(bridge, 6 * 8, 0.0)  # steps 0..7 play
    assert parts_sounding(out.sent) and bridge.fault is None
    with caplog.at_level(logging.WARNING, logger="sideman"):
        t = clock(bridge, 6 * 4, t)  # steps 8..11 fail
    assert "FAULT: model step failed: RuntimeError: fake failure" in status_text(bridge)
    assert parts_sounding(out.sent) == set()
    assert [r.getMessage() for r in caplog.records].count(
        "model fault: model step failed: RuntimeError: fake failure; parts silenced, model reset") == 1
    # thru and the clock keep going while the model fails
    before = len(out.sent)
    feed(bridge, [0x90, 74, 100], t)
    assert out.sent[before:] == [mido.Message("note_on", channel=0, note=74, velocity=100)]
    ticks = bridge.stats.ticks
    t = clock(bridge, 6 * 12, t)  # steps 12..19 fail, 20..23 play again
    assert bridge.stats.ticks == ticks + 12
    assert bridge.fault is None and parts_sounding(out.sent)
    assert model.calls[20]["count"] == 0  # the retry started from a reset state
    bridge.close()
    assert unmatched_note_ons(out.sent) == set()


def test_nan_in_the_model_is_a_fault_and_the_next_step_starts_clean():
    model = OnnxStepModel.load(DEFAULT_MODEL)
    bridge, out = live_bridge(model, thru=False)
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 72, 100], 0.0)
    t = clock(bridge, 6 * 4, 0.0)
    assert bridge.fault is None
    model.state[0][...] = np.nan  # a NaN crept into the recurrent state
    t = clock(bridge, 6, t)
    assert "not finite" in (bridge.fault or "") and "FAULT" in status_text(bridge)
    assert bridge.engine.sounding == {} and parts_sounding(out.sent) == set()
    assert all(np.isfinite(s).all() for s in model.state)  # reset, not carried on
    clock(bridge, 6 * 2, t)
    assert bridge.fault is None and bridge.engine.last_step is not None
    bridge.close()
    assert unmatched_note_ons(out.sent) == set()


def test_the_runtime_refuses_non_finite_logits():
    model = OnnxStepModel.load(DEFAULT_MODEL)
    contract = model.contract
    p, v = len(contract.parts), contract.vocab.size
    args = (contract.vocab.onset(72), 0, np.zeros(p, np.int64), (0, 0), np.zeros((p, v), np.float32), 0.8, 0.95, np.zeros((p, v), np.float32))
    model.step(*args)
    model.state[0][...] = np.inf
    with pytest.raises(FloatingPointError, match="not finite"):
        model.step(*args)
