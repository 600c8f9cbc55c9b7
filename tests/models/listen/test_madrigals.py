"""models/listen/madrigals: Monteverdi's analysed madrigals as Examples with the analyst's chords."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("music21")

from sideman.models.listen.data import IGNORE, bass_agreement  # noqa: E402
from sideman.models.listen.madrigals import (  # noqa: E402
    MIN_BASS_AGREEMENT,
    madrigal_names,
    madrigal_split,
    monteverdi_analyses,
)


@pytest.fixture(scope="module")
def madrigal_3_2():
    return monteverdi_analyses(["madrigal.3.2"])


def test_every_analysis_has_its_score() -> None:
    names = madrigal_names()
    assert len(names) == 48 and names[0] == "madrigal.3.1" and names[-1] == "madrigal.5.8"


def test_a_madrigal_is_heard_in_all_its_parts_with_the_analysts_chords(madrigal_3_2) -> None:
    (example,) = madrigal_3_2.examples
    labelled = example.chord != IGNORE
    assert labelled.mean() > 0.9
    assert len(np.unique(example.chord[labelled])) >= 5
    assert example.accompaniment[:, 2].min() < example.melody[:, 2].min()  # the Canto is the top part
    assert set(example.phase.tolist()) == {0, 1, 2, 3}


def test_the_analysis_lines_up_with_the_score_even_where_a_part_has_overfull_bars(madrigal_3_2) -> None:
    # The Canto of this score writes two whole rests in some 4/4 bars: placed by its own bar lengths it
    # drifts a bar late against the other parts and the analysis.
    (example,) = madrigal_3_2.examples
    assert madrigal_3_2.agreement["madrigal.3.2"] >= MIN_BASS_AGREEMENT
    ends = example.melody[:, 1].max(), example.accompaniment[:, 1].max()
    assert abs(int(ends[0]) - int(ends[1])) <= 16


def test_labels_a_beat_late_fall_below_the_alignment_threshold(madrigal_3_2) -> None:
    (example,) = madrigal_3_2.examples
    late = replace(example, chord=np.concatenate([np.full(4, IGNORE), example.chord[:-4]]))
    assert bass_agreement(late) < MIN_BASS_AGREEMENT <= bass_agreement(example)


def test_the_split_is_by_piece_and_holds_both_sides() -> None:
    sides = [madrigal_split(n) for n in madrigal_names()]
    assert sides == [madrigal_split(n) for n in madrigal_names()]
    assert 8 <= sides.count("valid") <= 16


def test_a_set_of_madrigals_splits_by_piece_and_all_is_every_one(madrigal_3_2) -> None:
    (example,) = madrigal_3_2.examples
    side = madrigal_split("madrigal.3.2")
    assert madrigal_3_2.split(side) == [example] and madrigal_3_2.split("all") == [example]
    assert madrigal_3_2.split({"train": "valid", "valid": "train"}[side]) == []
