"""Tune sets: frames to the 16th grid, meter and pickup, human parts, deterministic choice of tunes."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.models.quality.grid import Meter, held_line
from sideman.models.quality.tunes import (NOTTINGHAM, folk_tune, folk_tunes, human_chord_parts, infer_meter, load_set,
                                          pick)

_ = -1


def test_repeated_frames_are_one_held_note():
    pitch, onset = held_line([60, 60, _, 62], 2)
    assert pitch.tolist() == [60, 60, 60, 60, _, _, 62, 62]
    assert onset.tolist() == [True, False, False, False, False, False, True, False]


def test_human_chord_parts_put_the_lowest_note_in_the_bass():
    out = human_chord_parts([(48, 55, 64), (50,), (), (43, 55, 59, 62, 67)], 3)
    assert out.tolist() == [[64, 55, 48], [_, _, 50], [_, _, _], [67, 62, 43]]


def _frames(chords_per_bar: list[tuple[int, ...]], frames_per_chord: int, melody: list[int], phase: int):
    chords = [c for c in chords_per_bar for _ in range(frames_per_chord)]
    chords = chords[-phase:] + chords[:-phase] if phase else chords
    return chords, melody[: len(chords)]


def test_meter_from_chord_changes_and_melody():
    progression = [(48, 52, 55), (53, 57, 60), (55, 59, 62), (48, 52, 55)] * 4
    # 6/8: a chord per bar of 6 frames, melody in quarter-eighth (frames 0, 2, 3, 5 of each bar)
    jig_bar = [72, 72, 74, 76, 76, 74]
    chords, melody = _frames(progression, 6, jig_bar * 16, 0)
    guess, phase = infer_meter(chords, melody)
    assert (guess.meter, phase) == (Meter(6, 2), 0)
    # 4/4: a chord per 8-frame bar, melody in quarters, the first downbeat on frame 3 (a pickup)
    quarters = [72, 72, 74, 74, 76, 76, 77, 77]
    chords, melody = _frames(progression, 8, quarters * 16, 3)
    melody = melody[-3:] + melody[:-3]
    guess, phase = infer_meter(chords, melody)
    assert (guess.meter, phase) == (Meter(4, 4), 3)
    # 3/4: a chord per 6 frames, melody in quarters
    chords, melody = _frames(progression, 6, [72, 72, 74, 74, 76, 76] * 16, 0)
    assert infer_meter(chords, melody)[0].meter == Meter(4, 3)


def test_folk_tune_pads_a_pickup_so_step_0_is_a_downbeat():
    # one-frame pickup (melody alone), then 4/4 bars of one chord each
    frames = [[67]] + [[48, 52, 55, 72]] * 8 + [[53, 57, 60, 72]] * 8 + [[55, 59, 62, 71]] * 8 + [[48, 52, 55, 72]] * 8
    tune = folk_tune("t", frames)
    assert tune.meter == Meter(4, 4)
    pad = 16 - 2  # the pickup frame ends the first bar
    assert tune.pitch[:pad].tolist() == [_] * pad and tune.pitch[pad] == 67
    assert tune.onset[pad] and tune.onset[pad + 2] and not tune.onset[pad + 4]  # 72 held over 8 frames
    assert tune.human.n_parts == 3
    assert tune.human.pitch[pad + 2].tolist() == [55, 52, 48] and tune.human.pitch[pad].tolist() == [_, _, _]
    assert tune.human.onset[pad + 2].all() and not tune.human.onset[pad + 4].any()
    assert tune.key.name == "C major"


def test_pick_spreads_evenly_and_is_deterministic():
    assert pick(10, 3) == [0, 4, 9] == pick(10, 3)
    assert pick(5, None) == pick(5, 9) == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not NOTTINGHAM.is_file(), reason="needs ../shared/data/polyphonic")
def test_folk_sets_read_the_nottingham_splits():
    tunes = folk_tunes("test", 3)
    assert len(tunes) == 3 and all(t.human is not None for t in tunes)
    for t in tunes:
        assert t.human.pitch.shape[0] == t.n_steps
        assert np.all((t.human.pitch < 0) | (t.pitch[:, None] < 0) | (t.human.pitch <= t.pitch[:, None]))  # melody on top
    assert [t.name for t in tunes] == [t.name for t in folk_tunes("test", 3)]


def test_unknown_set_is_refused():
    with pytest.raises(ValueError, match="unknown tune set"):
        load_set("folk-train", 1)


def test_unaligned_folk_tune_starts_at_its_first_frame():
    frames = [[67]] + [[48, 52, 55, 72]] * 8 + [[53, 57, 60, 72]] * 8 + [[55, 59, 62, 71]] * 8
    tune = folk_tune("t", frames, align=False)
    assert tune.pitch[0] == 67 and tune.onset[0]
    assert tune.human.pitch.shape[0] == tune.n_steps == 2 * len(frames)
