"""The distillation study's pieces: tunes as lead tokens, their positions, the share of the gap closed."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from sideman.bridge.model.contract import Vocab  # noqa: E402
from sideman.models.distill_study import gap_closed, lead_tokens, tune_position  # noqa: E402
from sideman.models.quality.grid import Key, Meter, Tune  # noqa: E402

V = Vocab()


def test_a_tune_becomes_lead_tokens_folded_into_the_soprano_range():
    pitch = np.array([55, 55, 55, -1, 88, 88, 72, 72])
    onset = np.array([True, False, True, False, True, False, True, False])
    tune = Tune("t", pitch, onset, Meter(6, 2), Key(0, False))
    assert lead_tokens(tune).tolist() == [V.onset(67), V.hold, V.onset(67), V.rest, V.onset(76), V.hold,
                                          V.onset(72), V.hold]
    pos = tune_position(Tune("t", np.zeros(14, int), np.ones(14, bool), Meter(6, 2), Key(0, False)))
    assert pos[:13].tolist() == [[s % 4, s // 4] for s in range(12)] + [[0, 0]]  # a 6/8 bar is 12 steps


def test_gap_closed_is_the_students_share_of_the_way_from_today_to_the_teacher():
    today, teacher = {"clash": 0.5, "in_chord": 0.4}, {"clash": 0.3, "in_chord": 0.6}
    assert gap_closed(today, {"clash": 0.4, "in_chord": 0.55}, teacher) == pytest.approx({"clash": 0.5, "in_chord": 0.75})
    assert gap_closed(today, today, teacher) == {"clash": 0.0, "in_chord": 0.0}
    assert math.isnan(gap_closed(today, teacher, today)["clash"])


class Started(Exception):
    pass


def test_the_study_uses_the_threads_it_is_given(monkeypatch, tmp_path):
    import torch

    from sideman.models import distill_study

    asked = []

    def record(n: int) -> None:
        asked.append(n)
        raise Started  # stop before any tune is played

    monkeypatch.setattr(torch, "set_num_threads", record)
    for extra, want in (([], 2), (["--threads", "1"], 1)):
        with pytest.raises(Started):
            distill_study.main(["--student", str(tmp_path / "s.onnx"), "--teacher", str(tmp_path / "t.pt"), *extra])
        assert asked.pop() == want
