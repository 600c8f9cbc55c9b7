"""The beat follower on synthetic onsets: count-in, the first beat, drift, jitter, rests, syncopation; never a
skipped or repeated step, never a tick far from the current period."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sideman.bridge.core.beat_phase import N_CLASSES, N_FEATURES, SIMPLE as SIMPLE_PLACES, PhaseModel
from sideman.bridge.core.clock import PEDAL
from sideman.bridge.core.follow import FollowClock, FollowGains, count_in_period, initial_beat, run_clock

from tests.bridge.core.test_beat_phase import reel

SPB = 4


def play(beats_bpm, pattern, *, start=1.0, jitter=0.0, seed=0):
    """(onsets, beat times): `pattern(beat)` lists onset offsets (in beats) within each beat; the tempo of
    beat j is beats_bpm[j]. Pitches change with every note (no count-in by accident)."""
    rng = np.random.default_rng(seed)
    beat_times = start + np.concatenate([[0.0], np.cumsum(60.0 / np.asarray(beats_bpm, dtype=float))])
    onsets = []
    for j in range(len(beats_bpm)):
        length = beat_times[j + 1] - beat_times[j]
        onsets += [beat_times[j] + f * length + (rng.normal(0, jitter) if jitter else 0.0) for f in pattern(j)]
    heard = [(t, 60 + i % 7) for i, t in enumerate(sorted(onsets))]
    return heard, beat_times[:-1]


def eighths_and_quarters(j):
    """Six 8ths and a quarter a 4/4 bar (a three-beat cycle of four 8ths and a quarter would also be a 6/8
    bar of three 8ths, a quarter and an 8th, whose quarter-note beats the phase model may put elsewhere)."""
    return (0.0,) if j % 4 == 3 else (0.0, 0.5)


def ticks_for(heard, until, **kwargs):
    return run_clock(FollowClock(100.0, SPB, **kwargs), heard, until)


def assert_a_clean_grid(ticks, slew=FollowGains().slew):
    steps = [t.step for t in ticks]
    assert steps == list(range(steps[0], steps[0] + len(steps)))  # none skipped, none repeated
    for a, b in zip(ticks, ticks[1:]):
        assert b.t > a.t
        # Never a jump: each tick comes within `slew` of a step of the period it was given, and the
        # period moves by at most max_period between two ticks.
        assert b.step_seconds * (1 - slew) - 1e-9 <= b.t - a.t <= b.step_seconds * (1 + slew) + 1e-9
        assert abs(b.step_seconds / a.step_seconds - 1) <= FollowGains().max_period + 1e-9


def beat_ticks(ticks):
    return np.array([t.t for t in ticks if t.step >= 0 and t.step % SPB == 0])


def near(est, ref, window=0.07):
    """Share of reference beats with a tick within `window`."""
    return float(np.mean([np.min(np.abs(est - r)) <= window for r in ref])) if len(est) else 0.0


def test_count_in_period_needs_four_even_taps():
    assert count_in_period([0.0, 0.5, 1.0, 1.5]) == pytest.approx(0.5)
    assert count_in_period([0.0, 0.5, 1.06, 1.5]) == pytest.approx(0.5)  # 12% off: still a count-in
    assert count_in_period([0.0, 0.5, 1.1, 1.5]) is None  # a gap 20% off the mean
    assert count_in_period([0.0, 0.5, 1.0]) is None
    assert count_in_period([0.0, 0.1, 0.2, 0.3]) is None  # 600 BPM: not a tempo


@pytest.mark.parametrize("source", [67, PEDAL])
def test_four_taps_count_in_and_the_song_starts_one_beat_after_the_fourth(source):
    clock = FollowClock(100.0, SPB)
    taps = [2.0, 2.5, 3.0, 3.5]
    assert [clock.hear(t, source) for t in taps[:3]] == [None, None, None]
    start = clock.hear(taps[3], source)
    assert start.kind == "start" and start.step == -SPB and clock.bpm == pytest.approx(120.0)
    ticks = [clock.due(clock.next_tick_time()) for _ in range(SPB + 1)]
    assert [t.step for t in ticks] == [-4, -3, -2, -1, 0]
    assert ticks[0].t == pytest.approx(3.5) and ticks[-1].t == pytest.approx(4.0)


def test_uneven_or_mixed_taps_are_no_count_in():
    clock = FollowClock(100.0, SPB, count_in_only=True)
    for t in (0.0, 0.5, 1.2, 1.5):  # one gap 40% long
        assert clock.hear(t, 67) is None
    clock = FollowClock(100.0, SPB, count_in_only=True)
    for t, key in ((0.0, 67), (0.5, 67), (1.0, 69), (1.5, 67)):  # two keys
        assert clock.hear(t, key) is None
    assert not clock.running


def test_count_in_only_never_starts_from_the_melody():
    heard, _ = play([110] * 16, eighths_and_quarters)
    assert ticks_for(heard, 10.0, count_in_only=True) == []
    assert ticks_for(heard, 10.0)  # without it, the melody starts the grid


def test_the_first_notes_give_the_tempo_at_the_beat_level_nearest_the_expected_one():
    for bpm in (85.0, 110.0, 130.0):
        heard, beats = play([bpm] * 8, eighths_and_quarters, jitter=0.01)
        period, beat, _ = initial_beat([t for t, _ in heard[:8]], 60.0 / 100.0)
        assert period == pytest.approx(60.0 / bpm, rel=0.03)  # not the 8th, not the half note
        assert min(abs(beat - b) for b in beats) < 0.03  # on a beat, not between


def test_a_steady_player_is_followed_on_the_beat():
    heard, beats = play([112] * 64, eighths_and_quarters)
    ticks = ticks_for(heard, beats[-1] + 0.1)
    assert_a_clean_grid(ticks)
    est = beat_ticks(ticks)
    assert near(est, beats[8:], 0.01) == 1.0  # once started, every beat within 10 ms
    assert ticks[-1].step_seconds * SPB == pytest.approx(60.0 / 112, rel=0.005)


@pytest.mark.parametrize("ramp", [0.10, -0.10])
def test_a_ten_percent_ramp_is_followed(ramp):
    bpms = 105 * (1 + ramp * np.arange(96) / 95)
    heard, beats = play(bpms, eighths_and_quarters)
    ticks = ticks_for(heard, beats[-1] + 0.1)
    assert_a_clean_grid(ticks)
    assert near(beat_ticks(ticks), beats[8:], 0.03) == 1.0
    assert 60.0 / (ticks[-1].step_seconds * SPB) == pytest.approx(bpms[-1], rel=0.02)


def test_twenty_ms_of_jitter_and_dropped_notes_stay_within_the_beat_window():
    rng = np.random.default_rng(3)
    bpms = 100 * (1 + 0.1 * np.arange(96) / 95)
    heard, beats = play(bpms, eighths_and_quarters, jitter=0.020, seed=3)
    heard = [h for i, h in enumerate(heard) if i < 8 or rng.random() > 0.1]
    ticks = ticks_for(heard, beats[-1] + 0.1)
    assert_a_clean_grid(ticks)
    assert near(beat_ticks(ticks), beats[8:], 0.07) >= 0.95


def test_a_rest_holds_the_period_and_the_grid_goes_on():
    pattern = lambda j: () if 16 <= j < 24 else eighths_and_quarters(j)  # noqa: E731 - two bars of rest
    heard, beats = play([100] * 40, pattern)
    ticks = ticks_for(heard, beats[-1] + 0.1)
    assert_a_clean_grid(ticks)
    in_rest = [t for t in ticks if beats[16] < t.t < beats[24]]
    assert in_rest and all(t.step_seconds == in_rest[0].step_seconds for t in in_rest)
    assert near(beat_ticks(ticks), beats[24:], 0.01) == 1.0  # still on the beat when the player comes back


def test_syncopation_pulls_the_grid_only_weakly():
    # After eight beats in time, one bar played 40 ms late: on the beats, or on the off-beats only.
    late = 0.040 * 100 / 60  # beats at 100 BPM

    def moved(offsets):
        pattern = lambda j: eighths_and_quarters(j) if j < 8 else tuple(o + late for o in offsets) if j < 12 else ()  # noqa: E731
        heard, beats = play([100] * 14, pattern)
        ticks = ticks_for(heard, beats[12] + 0.1)
        assert_a_clean_grid(ticks)
        return float(np.min(np.abs(beat_ticks(ticks) - beats[12])))

    on_beats, off_beats = moved((0.0,)), moved((0.5,))
    assert on_beats > 0.010  # the beats move the grid
    assert off_beats < 0.6 * on_beats  # the off-beats much less


def test_held_notes_give_no_onsets_so_nothing_moves():
    heard, beats = play([100] * 12, eighths_and_quarters)
    clock = FollowClock(100.0, SPB)
    ticks = run_clock(clock, heard, beats[-1])
    period = clock.step_seconds
    more = run_clock(clock, [], beats[-1] + 10.0)  # ten seconds of one held note: no onsets
    assert all(t.step_seconds == period for t in more)
    assert_a_clean_grid(ticks + more)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.03, 1.5), min_size=2, max_size=80), st.floats(60, 180))
def test_whatever_is_played_the_grid_never_skips_repeats_or_jumps(gaps, bpm):
    times = np.cumsum(gaps)
    heard = [(float(t), 60 + i % 5) for i, t in enumerate(times)]
    ticks = run_clock(FollowClock(bpm, SPB), heard, float(times[-1]) + 2.0)
    if ticks:
        assert_a_clean_grid(ticks)


def test_stop_keeps_the_tempo_for_next_time():
    heard, beats = play([120] * 16, eighths_and_quarters)
    clock = FollowClock(90.0, SPB)
    run_clock(clock, heard, beats[-1])
    assert clock.stop(beats[-1]).kind == "stop" and not clock.running and clock.next_tick_time() is None
    assert clock.bpm == pytest.approx(120, rel=0.01)


def test_a_pickup_then_even_8ths_is_followed_on_the_beat_not_the_off_beat():
    # The reel's rhythm fits the off-beat as well as the beat; its chord tones fall on the beats.
    eighth = 60.0 / 100 / 2
    heard = [(2.0 + eighth * k, pitch) for k, pitch in reel()]
    beats = 2.0 + eighth * np.arange(0, reel()[-1][0] + 1, 2)
    ticks = ticks_for(heard, beats[-1] + 0.1)
    assert_a_clean_grid(ticks)
    est = beat_ticks(ticks)
    assert near(est, beats[-8:], 0.03) == 1.0  # a beat tick on every beat of the last bars


def quarter_is_a_beat() -> PhaseModel:
    """A phase model that hears a note a quarter long as a beat and an 8th as an off-beat (simple meter only)."""
    hidden = np.zeros((1, N_FEATURES))
    hidden[0, 0], hidden[0, 1] = -3.0, 3.0  # the note's length: one 8th, two
    weights = np.full((N_CLASSES, 1), 0.0)
    weights[0, 0], weights[1, 0] = 4.0, -4.0
    bias = np.full(N_CLASSES, -20.0)
    bias[:SIMPLE_PLACES] = 0.0
    return PhaseModel(hidden, np.zeros(1), weights, bias, np.full(N_CLASSES, 1.0 / N_CLASSES))


def test_when_the_evidence_turns_the_grid_moves_half_a_beat_through_the_slew():
    # Quarter, 8th, 8th in every beat pair; then one extra 8th turns the rhythm round: the quarters fall on
    # what the grid holds as off-beats, and the grid must follow them without a jump.
    def rhythm(j):
        if j < 16:
            return (0.0,) if j % 2 == 0 else (0.0, 0.5)
        return (0.0, 0.5) if j % 2 == 0 else (0.5,)  # from beat 16: 8th, quarter, 8th, ...

    heard, beats = play([100] * 64, rhythm)
    clock = FollowClock(100.0, SPB, phase_model=quarter_is_a_beat())
    ticks = run_clock(clock, heard, beats[-1] + 0.1)
    assert_a_clean_grid(ticks)
    est = beat_ticks(ticks)
    assert near(est, beats[8:16], 0.01) == 1.0  # on the beat before the turn
    half = 0.5 * 60.0 / 100
    assert near(est, beats[-7:-1] + half, 0.01) == 1.0 and near(est, beats[-7:-1], 0.07) == 0.0  # on the quarters
