"""models/listen: folk keys, the reserved collection, chord labels from frames, templates, scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("music21")

from sideman.bridge.listen.names import NO_CHORD, chord_index, chord_name, key_index  # noqa: E402
from sideman.models.listen import folk  # noqa: E402
from sideman.models.listen.chords import match_chord  # noqa: E402
from sideman.models.listen.data import IGNORE, Example, frames_example, intervals, melody_keys  # noqa: E402
from sideman.models.listen.evaluate import (  # noqa: E402
    KEY_FINDERS,
    KeyFinder,
    key_cut,
    mirex,
    pitch_class_durations,
    profile_listener_answers,
    template_answers,
)

TUNE = """X: 7
T: A test reel
M: 4/4
L: 1/8
K:Ador
EAAB c2BA | G2BG DGBG | EAAB c2Bc | dBGB A4 |
"""


def weights(*pcs: int) -> np.ndarray:
    w = np.zeros(12)
    w[list(pcs)] = 1
    return w


# -- the reserved collection ---------------------------------------------------------------------------


def test_the_reserved_collection_is_refused_wherever_it_is_named(tmp_path: Path) -> None:
    with pytest.raises(folk.ReservedDataError):
        folk.check_path(folk.corpus_root() / "airdsAirs" / "airds1.abc")
    with pytest.raises(folk.ReservedDataError):
        folk.check_path("AIRDSAIRS/x.abc")
    with pytest.raises(folk.ReservedDataError):
        folk.collection_paths("airdsAirs")
    for collection in folk.COLLECTIONS:
        assert all("airdsairs" not in str(p).lower() for p in folk.collection_paths(collection))


def test_the_data_code_never_reads_the_reserved_collection(tmp_path: Path, monkeypatch) -> None:
    """Every file folk.py opens goes through the path filter: a key collection holding a link into
    airdsAirs is refused before anything of airdsAirs is opened."""
    root = tmp_path / "corpus"
    (root / "airdsAirs").mkdir(parents=True)
    (root / "airdsAirs" / "airds.abc").write_text(TUNE)
    (root / "oneills1850").mkdir()
    (root / "oneills1850" / "a.abc").write_text(TUNE)
    opened: list[Path] = []
    real_read = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: opened.append(self.resolve()) or real_read(self, *a, **k))
    monkeypatch.setattr(folk, "corpus_root", lambda: root)
    assert [t.id for t in folk.collection_tunes("oneills1850", {}, progress=False)] == ["oneills1850/a/1"]
    # Only the corpus's files count: a library importing lazily may read its own metadata meanwhile.
    assert [p for p in opened if root.resolve() in p.parents] == [(root / "oneills1850" / "a.abc").resolve()]
    (root / "oneills1850" / "b.abc").symlink_to(root / "airdsAirs" / "airds.abc")
    with pytest.raises(folk.ReservedDataError):
        folk.collection_tunes("oneills1850", {}, progress=False)
    assert all("airdsAirs" not in p.parts for p in opened)


# -- folk tunes and their keys --------------------------------------------------------------------------


def test_a_tune_is_parsed_and_its_mode_named_by_the_key_field() -> None:
    tune = folk.parse_tune("oneills1850/test/1", TUNE)
    assert (tune.field, tune.tonic, tune.mode) == ("Ador", 9, "dorian")
    assert folk.tune_key(tune) == key_index(9, True)  # A dorian: minor on A
    assert tune.notes[:3].tolist() == [[0, 2, 64], [2, 4, 69], [4, 6, 69]]
    assert tune.bar_ends.tolist() == [16, 32, 48, 64] and tune.phase[:5].tolist() == [0, 1, 2, 3, 0]


def test_essen_keys_take_the_tonic_from_the_field_and_the_mode_from_the_third() -> None:
    minor = np.array([[0, 4, 57], [4, 8, 60], [8, 12, 64], [12, 16, 57]])  # A C E A: minor third over A
    tune = folk.FolkTune("essenFolksong/x/1", "A", 9, "major", minor, np.zeros(16, np.int64), np.array([16]))
    assert folk.tune_key(tune) == key_index(9, True)
    off_tonic = folk.FolkTune("essenFolksong/x/2", "C", 0, "major", minor, np.zeros(16, np.int64), np.array([16]))
    with pytest.raises(folk.TuneError, match="ends off"):
        folk.tune_key(off_tonic)
    locrian = folk.FolkTune("oneills1850/x/3", "Bloc", 11, "locrian", minor, np.zeros(16, np.int64), np.array([16]))
    with pytest.raises(folk.TuneError, match="neither major nor minor"):
        folk.tune_key(locrian)


def test_split_abc_and_key_field() -> None:
    text = "% header\n" + TUNE + "\n" + TUNE.replace("X: 7", "X: 8").replace("K:Ador", "K: Gm % a comment")
    tunes = folk.split_abc(text)
    assert len(tunes) == 2 and tunes[0].startswith("X: 7")
    assert folk.key_field(tunes[1]) == "Gm"


def test_copies_of_a_tune_share_their_grouping_keys_whatever_the_key_and_rhythm() -> None:
    a = np.array([[0, 2, 60], [2, 4, 62], [4, 6, 64], [6, 8, 64], [8, 12, 67]])
    b = np.array([[0, 4, 65], [4, 5, 67], [5, 6, 69], [6, 12, 72]])  # up a fourth, other rhythm, no repeat
    assert melody_keys(a) == melody_keys(b)
    assert intervals([60, 60, 62, 59]) == [2, -3]


# -- chords --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pcs, lowest, name", [
    ((7, 11, 2), 7, "G"), ((2, 6, 9, 0), 2, "D7"), ((2, 6, 0), 2, "D7"), ((9, 0, 4), 9, "Am"),
    ((11, 2, 5), 11, "Bdim"), ((9, 0), 9, "Am"), ((9, 0), 5, "F"), ((4, 7, 11, 2), 4, "Em"),
])
def test_the_template_matcher(pcs, lowest, name) -> None:
    assert chord_name(match_chord(weights(*pcs), lowest)) == name


def test_silence_is_no_chord() -> None:
    assert match_chord(np.zeros(12), None) == NO_CHORD


def test_nottingham_frames_give_melody_accompaniment_chords_and_beats() -> None:
    # 8th-note frames: C major under E then G, then G7 under F, F, B, B: the chord changes on frame 2
    frames = [[48, 52, 55, 64], [48, 52, 55, 67], [43, 59, 62, 65, 77], [43, 59, 62, 65, 77],
              [43, 59, 62, 65, 71], [43, 59, 62, 65, 71]]
    ex = frames_example("t", frames, 2, chord_from_melody=False)
    assert ex.melody.tolist() == [[0, 2, 64], [2, 4, 67], [4, 8, 77], [8, 12, 71]]
    assert [0, 4, 48] in ex.accompaniment.tolist() and [4, 12, 43] in ex.accompaniment.tolist()
    assert [chord_name(int(c)) for c in ex.chord[::2]] == ["C", "C", "G7", "G7", "G7", "G7"]
    assert ex.phase.tolist() == [0, 1, 2, 3] * 3
    shifted = frames_example("t", [[60, 64, 67]] + frames, 2, chord_from_melody=False)  # an 8th of pickup
    assert shifted.phase[:6].tolist() == [2, 3, 0, 1, 2, 3]


# -- scores --------------------------------------------------------------------------------------------


def test_mirex_scores() -> None:
    c_major, a_minor = key_index(0, False), key_index(9, True)
    assert mirex(c_major, c_major) == 1.0
    assert mirex(key_index(7, False), c_major) == 0.5  # a fifth above
    assert mirex(key_index(5, False), c_major) == 0.0  # a fifth below counts nothing (as mir_eval)
    assert mirex(a_minor, c_major) == 0.3 and mirex(c_major, a_minor) == 0.3
    assert mirex(key_index(0, True), c_major) == 0.2


def test_keys_are_read_at_the_last_step_of_the_bar() -> None:
    ex = Example("e", np.zeros((0, 3), np.int64), np.zeros((0, 3), np.int64), np.zeros(40, np.int64),
                 np.zeros(40, np.int64), np.full(40, IGNORE), np.array([4, 20, 36]))
    assert key_cut(ex, 2) == 19 and key_cut(ex, 8) is None


def test_the_template_baseline_hears_the_beat_so_far() -> None:
    melody = np.array([[0, 2, 67], [2, 4, 71], [4, 8, 72]])
    bass = np.array([[0, 4, 43], [4, 8, 45]])
    ex = Example("e", melody, bass, np.arange(8) % 4, np.full(8, IGNORE), np.full(8, IGNORE))
    answers = template_answers(ex, with_accompaniment=True)
    assert chord_name(int(answers[3])) == "G" and chord_name(int(answers[7])) == "Am"
    assert template_answers(ex, with_accompaniment=False)[7] == chord_index(0, "maj")


def test_the_profile_listener_baseline_steps_the_engines_listener_through_the_notes() -> None:
    # G major: G B D, then a beat of a D major chord with the accompaniment
    melody = np.array([[0, 4, 67], [4, 8, 71], [8, 12, 74], [12, 16, 67], [16, 20, 66]])
    chord = np.array([[16, 20, 62], [16, 20, 69]])
    ex = Example("e", melody, chord, np.arange(20) % 4, np.full(20, IGNORE), np.full(20, IGNORE))
    keys, chords = profile_listener_answers(ex, with_accompaniment=True)
    assert keys[15] == key_index(7, False) and chord_name(int(chords[19])) == "D"
    assert profile_listener_answers(ex, with_accompaniment=False)[0][15] == key_index(7, False)


@pytest.mark.parametrize("finder", KEY_FINDERS)
def test_the_key_finders_answer_as_music21s_own(finder) -> None:
    from music21 import note, stream
    from music21.analysis import discrete

    # "The Rakes of Mallow"-like opening in D, then a turn to its relative minor and a long A
    tune = [(0, 2, 74), (2, 4, 78), (4, 6, 81), (6, 8, 78), (8, 12, 74), (12, 14, 76), (14, 16, 73), (16, 20, 71),
            (20, 22, 69), (22, 24, 71), (24, 26, 73), (26, 28, 71), (28, 36, 69)]
    notes = np.array(tune)
    for cut in (11, 35):
        s = stream.Stream()
        for start, end, pitch in tune:
            if start <= cut:
                s.insert(start / 4, note.Note(pitch, quarterLength=(min(end, cut + 1) - start) / 4))
        k = getattr(discrete, finder)().getSolution(s)
        assert KeyFinder(finder)(pitch_class_durations(notes, cut)) == key_index(k.tonic.pitchClass, k.mode == "minor")
