"""The beat-phase evidence: when a note is scored, what a moved grid does to the evidence, and the shipped model
on tunes whose rhythm alone fits the off-beat as well as the beat."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.core.beat_phase import (COMPOUND, HYPOTHESES, LOOKAHEAD, N_CLASSES, N_FEATURES, SIMPLE,
                                            PhaseEvidence, PhaseModel, load_model, placed_evidence)
from sideman.bridge.errors import ModelError

# A G major reel in 4/4 (8th index, MIDI pitch): an 8th pickup (8th -1), then even 8ths with the chord tones on
# the beats and passing tones between; each 2-bar phrase ends on a quarter note. 8th 0 is a downbeat.
PHRASES = (
    [67, 69, 71, 72, 74, 72, 71, 69, 67, 71, 74, 71, 72, 69, 66],  # ... A, then D (quarter)
    [67, 69, 71, 69, 67, 66, 67, 71, 72, 71, 69, 67, 66, 64, 62],
    [71, 72, 74, 76, 74, 72, 71, 69, 72, 74, 76, 72, 71, 69, 67],
)
REEL_PICKUP = 62


def reel(phrases: int = 3) -> list[tuple[int, int]]:
    notes, k = [(-1, REEL_PICKUP)], 0
    for i in range(phrases):
        for j, pitch in enumerate(PHRASES[i % len(PHRASES)]):
            notes.append((k, pitch))
            k += 2 if j == len(PHRASES[0]) - 1 else 1
    return notes


def blank_model() -> PhaseModel:
    return PhaseModel(np.zeros((1, N_FEATURES)), np.zeros(1), np.zeros((N_CLASSES, 1)), np.zeros(N_CLASSES),
                      np.full(N_CLASSES, 1.0 / N_CLASSES))


def test_the_shipped_model_has_this_modules_features_and_places():
    model = load_model()
    assert model.hidden.shape[1] == N_FEATURES and model.weights.shape[0] == N_CLASSES
    assert model.prior.sum() == pytest.approx(1.0, abs=1e-4)


def test_a_file_that_is_not_a_phase_model_is_a_model_error_naming_it(tmp_path):
    wrong = tmp_path / "wrong.npz"
    model = load_model()
    np.savez(wrong, hidden=model.hidden[:, :-1], hidden_bias=model.hidden_bias, weights=model.weights, bias=model.bias,
             prior=model.prior)
    with pytest.raises(ModelError, match="wrong.npz"):
        load_model(wrong)
    with pytest.raises(ModelError, match="missing.npz"):
        load_model(tmp_path / "missing.npz")


def test_a_note_is_scored_once_an_onset_lookahead_8ths_after_it_is_heard():
    evidence = PhaseEvidence(blank_model())
    assert evidence.add(0, 60) == [] and evidence.add(1, 62) == []
    assert [k for k, _ in evidence.add(LOOKAHEAD, 64)] == [0]  # note 1 still waits for its lookahead
    assert [k for k, _ in evidence.add(LOOKAHEAD + 8, 65)] == [1, LOOKAHEAD]


def test_a_chord_or_grace_on_the_same_8th_counts_once():
    evidence = PhaseEvidence(blank_model())
    evidence.add(0, 60)
    assert evidence.add(0, 64) == []
    assert [k for k, _ in evidence.add(LOOKAHEAD, 62)] == [0]


def test_moving_the_grid_a_whole_beat_keeps_the_evidence_and_half_a_beat_turns_it():
    evidence = PhaseEvidence()
    for k, pitch in reel(1):
        evidence.add(k, pitch)
    before = evidence.llr
    assert before != 0.0
    evidence.shift(2)
    assert evidence.llr == pytest.approx(before)
    evidence.shift(1)
    assert evidence.llr == pytest.approx(-before)
    evidence.shift(-1)  # back, the hypotheses with it
    assert evidence.llr == pytest.approx(before)


def test_a_pickup_then_even_8ths_puts_the_beats_on_the_chord_tones():
    evidence = PhaseEvidence()
    for k, pitch in reel():
        evidence.add(k, pitch)
    assert evidence.llr > 0  # the even 8ths are the beats
    best = HYPOTHESES[int(np.argmax(evidence.scores))]
    assert best == (SIMPLE, 0)


def test_placed_evidence_reads_the_notes_times_on_the_grid():
    eighth = 0.3
    notes = [(1.0 + eighth * k + 0.01 * (-1) ** k, pitch) for k, pitch in reel()]
    on_grid = placed_evidence(notes, 1.0, eighth)
    off_grid = placed_evidence(notes, 1.0 + eighth, eighth)  # 8th 0 where 8th 1 is: the other phase
    assert on_grid.llr > 0 and off_grid.llr == pytest.approx(-on_grid.llr)
    assert placed_evidence(notes, 1.0 + eighth / 2, eighth).llr == 0.0  # every note between two 8ths: no evidence


def test_the_compound_hypotheses_are_the_six_8ths_of_a_six_eight_bar():
    assert HYPOTHESES == ((SIMPLE, 0), (SIMPLE, 1), *((COMPOUND, o) for o in range(COMPOUND)))
