"""models/listen/chorales: beat labels from the notes at the beat's onset; the test chorales stay out."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.listen.names import NO_CHORD, chord_name
from sideman.models import data as chorale_data
from sideman.models.data import Dataset, Piece, notes_to_tokens
from sideman.models.listen import chorales
from sideman.models.listen.chorales import beat_chords, chorale_example, chorale_examples, quarter_pitches
from sideman.models.listen.data import ANALYSED_CHORALES, ANALYSES, IGNORE, SHARED, UNPAIRED

# Two beats of four voices in C: beat 1 is C major, the soprano's E passes through F (an 8th) and
# the alto's G has a 16th neighbour A; beat 2 is G major with an anticipation of C in the soprano's last 16th.
FRAGMENT = [
    [(0, 2, 76), (2, 4, 77), (4, 7, 79), (7, 8, 72)],  # soprano: E F | G . . C
    [(0, 1, 67), (1, 2, 69), (2, 4, 67), (4, 8, 62)],  # alto: G A G | D
    [(0, 4, 60), (4, 8, 59)],  # tenor: C | B
    [(0, 4, 48), (4, 8, 43)],  # bass: C | G
]


def names(labels: np.ndarray) -> list[str]:
    return [chord_name(int(c)) if c != IGNORE else "-" for c in labels]


def test_passing_and_neighbour_tones_do_not_change_the_beats_label() -> None:
    phase = np.arange(8) % 4
    labels = beat_chords([n for v in FRAGMENT for n in v], phase)
    assert names(labels) == ["C"] * 4 + ["G"] * 4
    # the same beats heard with the off-beat tones held as chord tones give the same labels
    plain = [[(0, 4, 76), (4, 8, 79)], [(0, 4, 67), (4, 8, 62)], *FRAGMENT[2:]]
    assert names(beat_chords([n for v in plain for n in v], phase)) == names(labels)


def test_a_struck_note_on_the_beat_does_change_it() -> None:
    """The rule is the onset, not a vote: what sounds at the beat's first 16th names the beat."""
    phase = np.arange(8) % 4
    notes = [(0, 8, 48), (0, 8, 60), (0, 4, 64), (0, 4, 67), (4, 8, 65), (4, 8, 69)]  # C E G, then C F A
    assert names(beat_chords(notes, phase)) == ["C"] * 4 + ["F"] * 4


def test_a_pickup_before_the_first_beat_is_unlabelled_and_silence_is_no_chord() -> None:
    phase = np.array([2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
    notes = [(0, 6, 67), (0, 6, 71), (0, 6, 74)]  # G major, then nothing from step 6
    labels = beat_chords(notes, phase)
    assert labels[:2].tolist() == [IGNORE, IGNORE]
    assert names(labels[2:6]) == ["G"] * 4 and labels[6:].tolist() == [NO_CHORD] * 4


def test_a_chorale_is_heard_as_its_soprano_over_the_other_voices() -> None:
    ex = chorale_example("chorale:train/x", FRAGMENT, np.arange(8) % 4)
    assert ex.melody.tolist() == [list(n) for n in FRAGMENT[0]]
    assert sorted(ex.accompaniment.tolist()) == sorted(list(n) for v in FRAGMENT[1:] for n in v)
    assert (ex.key == IGNORE).all() and names(ex.chord[::4]) == ["C", "G"]


def test_every_analysed_chorale_is_named_for_exclusion() -> None:
    assert {chorale for chorale, _ in ANALYSES.values()} < ANALYSED_CHORALES
    assert len(ANALYSED_CHORALES) == len(ANALYSES) + len(UNPAIRED) == 20


def piece(name: str, soprano: list[int], bass: list[int]) -> Piece:
    """A chorale of quarter notes (alto and tenor hold one note each)."""
    n = 4 * len(soprano)
    voices = [[(4 * i, 4 * i + 4, p) for i, p in enumerate(soprano)], [(0, n, 60)], [(0, n, 55)],
              [(4 * i, 4 * i + 4, p) for i, p in enumerate(bass)]]
    tokens = np.stack([notes_to_tokens(v, n) for v in voices], axis=1)
    return Piece(name, tokens, np.stack([np.arange(n) % 4, (np.arange(n) // 4) % 4], axis=1))


def test_analysed_chorales_their_tunes_and_the_jsb_test_pieces_stay_out(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    tune = [int(p) for p in 67 + rng.integers(-5, 6, 24)]
    other = [int(p) for p in 67 + rng.integers(-5, 6, 24)]
    bass = [int(p) for p in 48 + rng.integers(-5, 6, 24)]
    other_bass = [int(p) for p in 48 + rng.integers(-5, 6, 24)]
    jsb_tune = [int(p) for p in 67 + rng.integers(-5, 6, 24)]
    analysed = sorted(ANALYSED_CHORALES)[0]
    pieces = {
        "train": [piece(f"{analysed}.mxl", other, bass),  # an analysed chorale, whatever its notes
                  piece("bwv900.1.mxl", [p + 2 for p in tune], bass),  # an analysed tune, transposed
                  piece("bwv900.2.mxl", jsb_tune, bass),  # a JSB test piece: its soprano and its bass
                  piece("bwv900.3.mxl", jsb_tune, other_bass)],  # the JSB tune harmonised otherwise: kept
        "valid": [piece("bwv900.4.mxl", other, other_bass)],
        "test": [piece("bwv900.5.mxl", other, bass)],  # the accompaniment model's test split: never read
    }
    monkeypatch.setattr(chorale_data, "load_dataset", lambda progress=True: Dataset(pieces))
    jsb_test = [[[b, 55, 60, s] for s, b in zip(jsb_tune, bass)]]
    out, left_out = chorale_examples([tune], jsb_test, progress=False)
    assert [e.name for e in out["train"]] == ["chorale:train/bwv900.3"]
    assert [e.name for e in out["valid"]] == ["chorale:valid/bwv900.4"]
    assert set(out) == set(chorales.CHORALE_SPLITS) == {"train", "valid"}
    assert left_out == {"analysed": [analysed], "an analysed tune": ["bwv900.1"], "a JSB test piece": ["bwv900.2"]}


def test_quarter_pitches_sample_each_beat() -> None:
    assert quarter_pitches(FRAGMENT[0], 8) == [76, 79]
    assert quarter_pitches([(4, 8, 60)], 12) == [-1, 60, -1]


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "jsb_chorales.json.gz").is_file(), reason="needs ../shared/data/polyphonic")
def test_the_real_chorale_data_holds_no_analysed_chorale() -> None:
    pytest.importorskip("music21")
    from sideman.models.listen.data import load_analyses, read_polyphonic

    analyses = load_analyses()
    out, left_out = chorale_examples(analyses.sopranos, read_polyphonic("jsb_chorales")["test"], progress=False)
    kept = {e.name.split("/", 1)[1] for split in out.values() for e in split}
    assert not kept & ANALYSED_CHORALES
    assert len(left_out["analysed"]) >= len(ANALYSES) - 2  # at most the two in the model's test split
    for e in [x for split in out.values() for x in split]:
        labelled = e.chord[e.chord != IGNORE]
        assert len(labelled) and (labelled <= NO_CHORD).all()
