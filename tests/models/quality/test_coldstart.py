"""Cold start and surprise: the cut, the tritone jump, the per-beat counts and the recovery (tiny synthetic tunes)."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.models.quality.coldstart import (HORIZON, beat_counts, cold_start, cut_step, main, play_events,
                                              recovery, surprise, tritone, until)
from sideman.models.quality.grid import Key, Meter, Parts, Tune, held_line, onsets_from_pitch
from sideman.models.quality.study import Entry

_ = -1


def tune_of(beats: list[int], meter: Meter = Meter(4, 4)) -> Tune:
    pitch, onset = held_line(beats, 4)
    return Tune("t", pitch, onset, meter, Key(0, False))


def test_the_cut_is_the_start_of_the_bar_holding_the_middle():
    assert cut_step(tune_of([60] * 20)) == 32  # 80 steps, middle step 40, in the bar starting at 32
    assert cut_step(tune_of([60] * 20, Meter(4, 3))) == 36  # bars of 12 steps
    assert cut_step(tune_of([60] * 6)) == 0  # shorter than two bars: no cut


def test_a_cold_start_is_the_tune_from_the_cut_alone_with_a_held_note_struck_again():
    tune = tune_of([60, 62, 64, 65, 67, 67, 69, 71])
    tune = Tune("t", tune.pitch, onsets_from_pitch(tune.pitch), tune.meter, tune.key)  # 67 held over two beats
    cold = cold_start(tune, 20, 28)
    assert cold.pitch.tolist() == [67] * 4 + [69] * 4
    assert cold.onset.tolist() == [True, False, False, False] * 2  # the note held over the cut starts at the cut
    assert tune.onset[20] == False  # noqa: E712  (the original is untouched)
    assert until(tune, 12).pitch.tolist() == tune.pitch[:12].tolist()


def test_a_surprise_moves_everything_from_the_cut_by_a_tritone_and_leaves_rests():
    tune = tune_of([60, 64, _, 67])
    jumped = surprise(tune, 8, 16, 6)
    assert jumped.pitch.tolist() == [60] * 4 + [64] * 4 + [_] * 4 + [73] * 4
    assert jumped.onset[12] and not jumped.onset[8]
    whole = surprise(tune, 8, 16, 6, start=0)  # the reference: the whole tune in the new key
    assert whole.pitch.tolist() == [66] * 4 + [70] * 4 + [_] * 4 + [73] * 4


def test_a_note_held_over_the_jump_is_struck_again_in_the_new_key():
    tune = tune_of([60, 62, 62, 64])
    tune = Tune("t", tune.pitch, onsets_from_pitch(tune.pitch), tune.meter, tune.key)
    jumped = surprise(tune, 8, 16, 6)
    assert jumped.pitch[7] == 62 and jumped.pitch[8] == 68 and jumped.onset[8]


def test_the_tritone_goes_towards_the_middle_of_the_lead_range():
    assert tritone(tune_of([60, 62, 64, 65]), 8) == 6
    assert tritone(tune_of([60, 62, 79, 81]), 8) == -6


def test_beat_counts_count_clashes_in_their_beat_only():
    tune = tune_of([60, 60, 60, _])
    pitch = np.full((16, 2), 48)
    pitch[4:8, 0] = 61  # a minor second over the tune in beat 1, out of the tune's key (C major)
    pitch[8:12] = _  # the parts rest in beat 2
    counts = beat_counts(tune.pitch, Parts(pitch, onsets_from_pitch(pitch)), 0, beats=4)
    assert counts[0].tolist() == [4, 4, 4, 0]  # the tune sounds
    assert counts[1].tolist() == [4, 4, 0, 0]  # tune and a part sound
    assert counts[2].tolist() == [0, 4, 0, 0]  # a clash
    assert counts[3].tolist() == [2, 1, 0, 2]  # part onsets
    assert counts[4].tolist() == [0, 1, 0, 0]  # the C# is out of key
    assert beat_counts(tune.pitch, Parts(pitch, onsets_from_pitch(pitch)), 4, beats=4)[2].tolist() == [4, 0, 0, 0]


def curve(clash: list[float], played: list[float] | None = None, steps: int = 100) -> np.ndarray:
    """[ROWS, beats] pooled counts with the given clash share (of the played steps) per beat."""
    played = played or [1.0] * len(clash)
    both = (np.array(played) * steps).astype(int)
    no_notes = np.zeros(len(clash), dtype=int)
    return np.stack([np.full(len(clash), steps), both, (np.array(clash) * both).astype(int), no_notes, no_notes])


STEADY = curve([0.2] * 32)


def test_recovery_is_the_first_beat_from_which_every_window_stays_near_the_untouched_run():
    c = curve([0.6] * 5 + [0.2] * 27)
    assert recovery(c, STEADY, window=1, tolerance=0.02) == 5
    assert recovery(c, STEADY, window=4, tolerance=0.02) == 5  # windows reaching back into the bad beats fail
    assert recovery(STEADY, STEADY, window=4, tolerance=0.02) == 0


def test_each_window_is_compared_with_the_untouched_runs_same_window():
    bars_ask_for_it = curve([0.2] * 10 + [0.5] * 4 + [0.2] * 18)  # a clashing passage in the tune itself
    assert recovery(bars_ask_for_it, bars_ask_for_it, window=4, tolerance=0.02) == 0
    assert recovery(bars_ask_for_it, STEADY, window=4, tolerance=0.02) == 14


def test_a_late_excursion_pushes_the_recovery_past_it():
    c = curve([0.6] * 3 + [0.2] * 20 + [0.5] + [0.2] * 8)
    assert recovery(c, STEADY, window=1, tolerance=0.02) == 24


def test_a_clash_that_never_returns_does_not_recover():
    assert recovery(curve([0.6] * 16 + [0.4] * 16), STEADY, window=4, tolerance=0.02) is None


def test_clashing_less_than_the_untouched_run_recovers_only_one_sided():
    quieter = curve([0.1] * 32)
    assert recovery(quieter, STEADY, window=4, tolerance=0.02) is None
    assert recovery(quieter, STEADY, window=4, tolerance=0.02, one_sided=True) == 0


def test_silent_beats_are_not_recovered_even_without_clashes():
    c = curve([0.2] * 32, played=[0.0] * 4 + [1.0] * 28)
    assert recovery(c, STEADY, window=4, tolerance=0.02) == 4


def hold_a_fourth_below(tune: Tune, seed: int) -> Parts:
    """Parts that copy the tune's key by sounding a fifth below it (never a clash)."""
    pitch = np.where(tune.pitch >= 0, tune.pitch - 7, -1)[:, None]
    return Parts(pitch, onsets_from_pitch(pitch))


def test_an_accompanist_that_follows_the_tune_recovers_at_once_from_both_events():
    tune = tune_of(([60, 62, 64, 65, 67, 65, 64, 62] * 10))  # 80 beats, 20 bars: cut at bar 10
    curves = play_events([tune], Entry("fifths", hold_a_fourth_below, (0, 1)))
    assert curves.plays == 2
    for event in ("cold start", "surprise"):
        assert curves.event[event][0].sum() == 2 * HORIZON * 4  # every measured step of both plays
        assert curves.event[event][2].sum() == 0
        assert recovery(curves.event[event], curves.reference[event], 4, 0.02) == 0


def test_a_bad_window_is_one_line_and_exit_code_2(capsys):
    assert main(["--window", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sideman: error: --window 0") and err.count("\n") == 1


@pytest.mark.parametrize("text", ["not json", '{"set": "folk-valid"}'])
def test_counts_that_are_not_ours_are_one_line(tmp_path, capsys, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    assert main(["--from-json", str(path)]) == 2
    assert capsys.readouterr().err.startswith("sideman: error:")


def test_another_model_gets_a_row_with_the_harmony_bias_and_one_without() -> None:
    from pathlib import Path

    from sideman.models.quality.coldstart import entries
    from sideman.models.quality.study import DEAF

    rows = {e.name: e for e in entries((0,), Path("candidate.onnx"))}
    with_bias = rows["student (candidate.onnx) hearing key, chord and tune (the config's defaults)"].play
    alone = rows["student (candidate.onnx) alone (no harmony bias)"].play
    assert with_bias.model_path == alone.model_path == Path("candidate.onnx")
    assert with_bias.settings == {} and alone.settings == dict(DEAF)
