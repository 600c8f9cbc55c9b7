"""MIDI beat clock following and the internal clock, driven with hand-made timestamps."""

from __future__ import annotations

import pytest

from sideman.bridge.core.clock import InternalClock, MidiClockFollower, Tick, Transport

PULSE_120 = 60.0 / (120 * 24)


def pulses(follower, n, t0, gap=PULSE_120):
    events = []
    for i in range(n):
        ev = follower.feed([0xF8], t0 + i * gap)
        if ev is not None:
            events.append(ev)
    return events


def test_start_then_every_sixth_pulse_is_a_step_tick_at_that_pulse_time():
    f = MidiClockFollower()
    assert f.feed([0xFA], 0.0) == Transport("start", 0.0, 0)
    ticks = pulses(f, 25, 0.01)
    assert [t.step for t in ticks] == [0, 1, 2, 3, 4]
    assert [round(t.t, 6) for t in ticks] == [round(0.01 + 6 * i * PULSE_120, 6) for i in range(5)]


def test_clock_without_start_moves_nothing_but_learns_tempo():
    f = MidiClockFollower(fallback_bpm=90)
    assert pulses(f, 48, 0.0) == []
    assert f.bpm == pytest.approx(120, rel=0.01)


def test_stop_halts_and_continue_resumes_where_it_stopped():
    f = MidiClockFollower()
    f.feed([0xFA], 0.0)
    pulses(f, 13, 0.0)  # steps 0, 1, 2 ticked; next pulse is 13
    assert f.feed([0xFC], 1.0) == Transport("stop", 1.0, 2)
    assert pulses(f, 12, 1.1) == []
    assert f.feed([0xFB], 2.0).kind == "continue"
    ticks = pulses(f, 12, 2.0)
    assert [t.step for t in ticks] == [3, 4]  # pulses 18 and 24


def test_song_position_pointer_moves_the_grid_in_sixteenths():
    f = MidiClockFollower()
    # SPP 37 sixteenths = bar 3 (4/4), beat 2, 16th 2: LSB 37, MSB 0
    assert f.feed([0xF2, 37, 0], 0.0) == Transport("seek", 0.0, 37)
    f.feed([0xFB], 0.0)
    assert [t.step for t in pulses(f, 7, 0.0)] == [37, 38]
    f.feed([0xFC], 1.0)
    assert f.feed([0xF2, 0, 1], 1.0).step == 128  # MSB counts 128 sixteenths


def test_tempo_follows_changes_and_shrugs_off_jitter():
    import random

    rng = random.Random(1)
    f = MidiClockFollower()
    f.feed([0xFA], 0.0)
    t = 0.0
    for _ in range(24 * 8):
        t += PULSE_120 + rng.gauss(0, 0.0005)  # 0.5 ms jitter per pulse
        f.feed([0xF8], t)
    assert f.bpm == pytest.approx(120, rel=0.02)
    for _ in range(24 * 4):
        t += 60.0 / (90 * 24)
        f.feed([0xF8], t)
    assert f.bpm == pytest.approx(90, rel=0.02)
    t += 0.03
    f.feed([0xF8], t)  # one late pulse does not swing the tempo
    assert f.bpm == pytest.approx(90, rel=0.02)
    for _ in range(2):
        t += 60.0 / (300 * 24)
        f.feed([0xF8], t)  # a jump to 300 BPM is taken as soon as two pulses agree
    assert f.bpm == pytest.approx(300, rel=0.01)
    for _ in range(2):
        t += 60.0 / (20 * 24)
        f.feed([0xF8], t)  # and down to 20 BPM
    assert f.bpm == pytest.approx(20, rel=0.01)
    t += 5.0
    f.feed([0xF8], t)  # a 5 s stall is not a tempo
    assert f.bpm == pytest.approx(20, rel=0.01)


def test_internal_clock_ticks_on_an_absolute_schedule_without_drift():
    c = InternalClock(bpm=120)
    assert c.due(0.0) is None
    c.start(10.0)
    ticks = []
    now = 10.0
    while len(ticks) < 1000:
        now += 0.0371  # polled at odd, late moments
        while (tick := c.due(now)) is not None:
            ticks.append(tick)
    assert ticks[999].t == pytest.approx(10.0 + 999 * 0.125, abs=1e-9)
    assert [t.step for t in ticks] == list(range(1000))
    assert c.stop(now).kind == "stop" and c.due(now + 10) is None and c.next_tick_time() is None


def test_ticks_are_plain_frozen_data():
    tick = Tick(1, 0.5, 0.125)
    with pytest.raises(AttributeError):
        tick.step = 2
