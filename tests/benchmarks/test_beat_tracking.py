"""The beat-tracking study's plumbing on a hand-made tune: the performance it plays and what it scores."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import beat_tracking as study
from sideman.models.quality.grid import Key, Meter, Tune

pytest.importorskip("mir_eval")


def eighths_tune(bars=16, pickup=True):
    """8ths and quarters in 4/4, with an 8th pickup before the first bar (step 0 is a downbeat of a silent bar)."""
    steps = (bars + 1) * 16
    pitch = np.full(steps, -1, dtype=np.int64)
    onset = np.zeros(steps, dtype=bool)
    starts = [14] if pickup else []
    for beat in range(4, (bars + 1) * 4):
        starts += [beat * 4] if beat % 3 == 2 else [beat * 4, beat * 4 + 2]
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else s + 4
        pitch[s:end] = 60 + i % 7
        onset[s] = True
    return Tune("hand-made", pitch, onset, Meter(4, 4), Key(0, False))


def test_a_ramp_ends_ten_percent_off_with_jitter_and_drops_as_asked():
    tune = eighths_tune()
    perf = study.perform(tune, study.Condition("ramp", 0.10, 0.020, 0.10), np.random.default_rng(1))
    gaps = np.diff(perf.beats)
    assert abs(gaps[0] / gaps[-1] - 1.0) == pytest.approx(0.10, abs=0.01)
    assert perf.beats[0] < perf.heard[0][0] + 0.1 and len(perf.beats) == 17 * 4 - 3  # from the pickup's beat
    written = int(tune.onset.sum())
    assert 0.8 * written <= len(perf.heard) < written
    heard = np.array([t for t, _ in perf.heard])
    assert np.all(np.diff(heard) >= 0)
    # Onsets sit on the true grid up to the jitter; the grid holds four steps a beat.
    assert np.median(np.abs(heard[:, None] - perf.grid[None, :]).min(axis=1)) < 0.03
    assert len(perf.grid) == 4 * len(perf.beats)


def test_the_scores_of_the_true_beats_are_perfect_and_of_the_off_beat_are_not():
    perf = study.perform(eighths_tune(), study.CONDITIONS[1], np.random.default_rng(2))
    true = study.scores(perf.beats, perf.beats)
    assert true["F"] == pytest.approx(1.0) and true["CMLt"] == pytest.approx(1.0) and true["tempo"] == pytest.approx(1.0)
    off = perf.beats[:-1] + np.diff(perf.beats) / 2
    scored = study.scores(perf.beats, off)
    assert scored["F"] < 0.1 and scored["AMLt"] > 0.9  # the off-beat: wrong phase, right period


def test_the_follower_follows_the_performance_and_the_fixed_clock_does_not():
    perf = study.perform(eighths_tune(bars=24), study.CONDITIONS[1], np.random.default_rng(3))
    follow = study.scores(perf.beats, *study.follow_beats(perf))
    fixed = study.scores(perf.beats, *study.default_beats(perf))
    assert follow["AMLt"] > 0.9 and follow["tempo"] > 0.8
    assert fixed["tempo"] < 0.5
