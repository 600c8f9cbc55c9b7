"""Chorale data: token grid round trips, positions with pickups, transpositions, splits, MIDI output.

Only a handful of corpus files are parsed here (parsing all 433 takes minutes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sideman.bridge.model.contract import Vocab
from sideman.models import data
from sideman.models.data import (LEAD, PARTS, Piece, PieceError, assign_splits, fits_ranges, group_pieces, melody_keys,
                         notes_to_tokens, positions, read_splits, tokens_to_notes, transpose, valid_shifts)

V = Vocab()

music21 = pytest.importorskip("music21")


def independent_notes(part) -> list[tuple[int, int, int]]:
    """The test's own reading of a music21 part: merge tied notes by hand, offsets in 16ths."""
    notes: list[list[float]] = []
    for n in part.flatten().notes:
        start, end = float(n.offset) * 4, float(n.offset + n.quarterLength) * 4
        tie = n.tie.type if n.tie is not None else None
        if tie in ("continue", "stop") and notes and notes[-1][2] == n.pitch.midi and notes[-1][1] == start:
            notes[-1][1] = end
        else:
            notes.append([start, end, n.pitch.midi])
    assert all(float(s).is_integer() and float(e).is_integer() for s, e, _ in notes)
    return [(int(s), int(e), int(p)) for s, e, p in notes]


@pytest.fixture(scope="module")
def corpus_root():
    return data.corpus_paths()[0].parent


@pytest.mark.parametrize("name", ["bwv101.7.mxl", "bwv10.7.mxl", "bwv26.6.mxl"])
def test_tokens_round_trip_to_the_music21_notes(corpus_root, name):
    from music21 import converter

    piece = data.parse_piece(corpus_root / name)
    score = converter.parse(corpus_root / name)
    assert piece.tokens.shape[1] == 4 and piece.position.shape == (len(piece.tokens), 2)
    for v, part in enumerate(score.parts):
        assert tokens_to_notes(piece.tokens[:, v]) == independent_notes(part)
    assert fits_ranges(piece.tokens)
    assert V.unknown not in piece.tokens


def test_pickup_bar_positions(corpus_root):
    # bwv101.7 starts with a one-beat pickup in 4/4: its first step is beat 3 (0-based), the next bar starts at step 4
    piece = data.parse_piece(corpus_root / "bwv101.7.mxl")
    assert piece.position[:5].tolist() == [[0, 3], [1, 3], [2, 3], [3, 3], [0, 0]]
    assert piece.position[20].tolist() == [0, 0]


def test_positions_from_a_measure_grid():
    # 3/4 with an eighth-note pickup: measure 0 holds 0.5 quarters (padding 2.5), measure 1 starts at 0.5
    grid = [(0.0, 2.5, 3.0), (0.5, 0.0, 3.0), (3.5, 0.0, 3.0)]
    pos = positions(grid, 16)
    assert pos[0].tolist() == [2, 2] and pos[1].tolist() == [3, 2]
    assert pos[2].tolist() == [0, 0] and pos[6].tolist() == [0, 1] and pos[14].tolist() == [0, 0]
    # long bars are clipped to max_beats_in_bar - 1
    assert positions([(0.0, 0.0, 12.0)], 48)[-1].tolist() == [3, 7]


def test_sung_voices_are_taken_from_a_score_with_instruments(corpus_root):
    from music21 import converter

    score = converter.parse(corpus_root / "bwv1.6.mxl")  # Horn 2, then Soprano, Alto, Tenor, Bass
    piece = data.parse_piece(corpus_root / "bwv1.6.mxl")
    sung = [p for p in score.parts if p.partName != "Horn 2"]
    assert [tokens_to_notes(piece.tokens[:, v]) for v in range(4)] == data.source_notes_of(sung)


class FakePart:
    def __init__(self, name: str) -> None:
        self.partName, self.id = name, name


def test_satb_voices_need_one_part_named_for_each_voice():
    parts = [FakePart(n) for n in ("Trumpet 1", "Soprano", "Alto\rViolin 2", "Tenor", "Bass\rContinuo", "Bassoon")]
    assert [p.partName for p in data.satb_voices(parts)] == ["Soprano", "Alto\rViolin 2", "Tenor", "Bass\rContinuo"]
    assert data.satb_voices([FakePart(n) for n in ("Oboe", "Soprano", "Alto", "Tenor", "Bass", "Bass")]) is None
    assert data.satb_voices([FakePart(n) for n in ("Oboe", "Soprano", "Alto", "Tenor", "Continuo")]) is None


def test_extended_splits_keep_every_listed_piece_and_each_tune_in_one_split():
    tune = np.array([[VOCAB_ONSET(p), 0, 0, 0] for p in (60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79, 81)])
    other = tune.copy()
    other[:, 0] = [VOCAB_ONSET(p) for p in (72, 71, 69, 67, 65, 64, 62, 60, 62, 64, 65, 67, 69)]
    pieces = [Piece("a.mxl", tune, np.zeros((13, 2), int)), Piece("b.mxl", tune, np.zeros((13, 2), int)),
              Piece("c.mxl", other, np.zeros((13, 2), int))]
    keep = {"train": [], "valid": [], "test": ["a.mxl"]}
    out = data.make_splits(pieces, keep=keep)
    assert "a.mxl" in out["test"] and "b.mxl" in out["test"]  # b is a's tune: it joins a's split
    assert sorted(n for names in out.values() for n in names) == ["a.mxl", "b.mxl", "c.mxl"]


def VOCAB_ONSET(pitch: int) -> int:
    return Vocab().onset(pitch)


notes_strategy = st.lists(st.tuples(st.integers(0, 4), st.integers(1, 6), st.integers(36, 84)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(notes_strategy)
def test_notes_tokens_round_trip(gaps_lengths_pitches):
    notes, t = [], 0
    for gap, length, pitch in gaps_lengths_pitches:
        t += gap
        notes.append((t, t + length, pitch))
        t += length
    tokens = notes_to_tokens(notes, t + 2)
    assert tokens_to_notes(tokens) == notes
    assert (tokens[-2:] == V.rest).all()


def test_hold_after_rest_is_silence():
    assert tokens_to_notes([V.rest, V.hold, V.onset(60), V.hold]) == [(2, 4, 60)]


def test_transpose_and_valid_shifts():
    # soprano C5 (72), alto F4 (65), tenor C4 (60), bass F3 (53)
    tokens = np.array([[V.onset(72), V.onset(65), V.onset(60), V.onset(53)], [V.hold, V.hold, V.rest, V.hold]])
    up2 = transpose(tokens, 2)
    assert up2[0].tolist() == [V.onset(74), V.onset(67), V.onset(62), V.onset(55)]
    assert up2[1].tolist() == tokens[1].tolist()
    # soprano 72 allows -12..+9 -> within [-6,6] all; alto 65 allows up to +9; tenor 60 to +9; bass 53 to +11
    assert valid_shifts(tokens) == list(range(-6, 7))
    high = transpose(tokens, 8)  # soprano 80: only up to +1 remains
    assert valid_shifts(high) == list(range(-6, 2))
    assert LEAD.high == 81 and [p.name for p in PARTS] == ["alto", "tenor", "bass"]


def test_augmented_keeps_every_voice_in_range():
    tokens = np.array([[V.onset(79), V.onset(65), V.onset(60), V.onset(53)]] * 3)
    piece = data.Piece("x.mxl", tokens, np.zeros((3, 2), dtype=np.int64))
    aug = data.augmented([piece])
    assert len(aug) == len(valid_shifts(tokens)) == 9  # soprano 79: up to +2
    assert all(fits_ranges(p.tokens) for p in aug)
    assert aug[0].name == "x.mxl-6" and any(p.name == "x.mxl" for p in aug)


def soprano(pitches: list[int]) -> np.ndarray:
    tokens = np.full((len(pitches), 4), V.rest, dtype=np.int64)
    tokens[:, 0] = [V.onset(p) for p in pitches]
    return tokens


def test_same_tune_transposed_or_varied_is_grouped():
    tune = [67, 67, 69, 71, 72, 71, 69, 67, 69, 71, 67, 66, 64, 62, 64, 66, 67, 69, 71, 72, 74, 72, 71]
    other = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 64, 67, 72, 67, 64, 60, 62, 60]
    varied_start = [62, 64] + [p + 2 for p in tune[3:]]  # new opening, same ending, other key
    keys = {"a.mxl": melody_keys(soprano(tune)), "b.mxl": melody_keys(soprano([p - 5 for p in tune])),
            "c.mxl": melody_keys(soprano(varied_start)), "d.mxl": melody_keys(soprano(other))}
    groups = group_pieces(keys)
    assert groups["a.mxl"] == groups["b.mxl"] == groups["c.mxl"] == "a.mxl"
    assert groups["d.mxl"] == "d.mxl"
    splits = assign_splits(groups)
    where = {n: s for s, names in splits.items() for n in names}
    assert where["a.mxl"] == where["b.mxl"] == where["c.mxl"]
    assert assign_splits(groups) == splits  # stable


def test_committed_splits_are_disjoint_and_plausible():
    splits = read_splits()
    names = [n for s in splits.values() for n in s]
    assert len(names) == len(set(names))
    total = len(names)
    assert 300 < total <= 433
    assert 0.7 < len(splits["train"]) / total < 0.9
    assert all(len(splits[s]) >= 20 for s in ("valid", "test"))
    assert all(n.endswith((".mxl", ".xml", ".krn")) for n in names)


def test_write_midi(tmp_path):
    mido = pytest.importorskip("mido")
    path = tmp_path / "x.mid"
    data.write_midi(path, [[(0, 4, 72), (4, 8, 74)], [(0, 8, 60)]], bpm=120)
    mid = mido.MidiFile(path)
    ons = [(i, m.note) for i, tr in enumerate(mid.tracks) for m in tr if m.type == "note_on" and m.velocity > 0]
    assert ons == [(0, 72), (0, 74), (1, 60)]
    assert mid.length == pytest.approx(1.0)  # 8 sixteenths at 120 bpm


def test_chords_inside_a_voice_keep_one_note_and_are_reported():
    from music21 import chord, note, stream

    part = stream.Part()
    part.append(note.Note("C5", quarterLength=1))
    part.append(chord.Chord(["E4", "G4", "C5"], quarterLength=2))
    log: list[str] = []
    assert data._voice_notes(part, 0, log, "x.mxl") == [(0, 4, 72), (4, 12, 72)]  # soprano: top note
    assert data._voice_notes(part, 3, log, "x.mxl") == [(0, 4, 72), (4, 12, 64)]  # bass: bottom note
    assert len(log) == 2 and "chord" in log[0] and "soprano" in log[0]
