"""Harmony measures on hand-made grids with known answers."""

from __future__ import annotations

import numpy as np

from sideman.bridge.model.contract import Vocab, Voice
from sideman.models.metrics import HarmonyCounts, consonant, count_bars, measure, parallels, sounding, summarize

V = Vocab()
R, H = V.rest, V.hold
VOICES = (Voice("soprano", 60, 81), Voice("alto", 53, 74), Voice("tenor", 48, 69), Voice("bass", 36, 64))


def on(p: int) -> int:
    return V.onset(p)


def grid(*columns: list[int]) -> np.ndarray:
    return np.array(columns, dtype=np.int64).T


def test_sounding_follows_holds_and_rests():
    pitch, onset = sounding(grid([on(60), H, R, H, on(62), on(62)]))
    assert pitch[:, 0].tolist() == [60, 60, -1, -1, 62, 62]
    assert onset[:, 0].tolist() == [True, False, False, False, True, True]


def test_consonance_classes():
    assert consonant(np.array([0, 3, 4, 7, 8, 9, 12, 19]), False).all()
    assert not consonant(np.array([1, 2, 6, 10, 11, 13]), False).any()
    assert consonant(np.array([5]), False).all()  # a fourth between upper voices is fine
    assert not consonant(np.array([5, 17]), True).any()  # ...but not against the bass


def test_c_major_triad_is_fully_consonant():
    # soprano G4 (67), alto E4 (64), tenor C4 (60), bass C3 (48): all pairs consonant, no fourth above bass
    c = measure(grid([on(67), H], [on(64), H], [on(60), H], [on(48), H]), VOICES)
    assert c.lead_pairs == 6 and c.lead_consonant == 6
    assert c.part_pairs == 6 and c.part_consonant == 6
    s = summarize(c, ["alto", "tenor", "bass"])
    assert s["consonance_all"] == 1.0 and s["crossings_per_100"] == 0.0


def test_second_and_fourth_over_bass_are_clashes():
    # soprano D5 (74) over alto C5 (72): a second (clash). Bass G3 (55) under tenor C4 (60): a fourth over the bass.
    c = measure(grid([on(74)], [on(72)], [on(60)], [on(55)]), VOICES)
    # lead pairs: S-A 2 (clash), S-T 14 -> 2 (clash), S-B 19 -> 7 (ok)
    assert (c.lead_pairs, c.lead_consonant) == (3, 1)
    # part pairs: A-T 12 -> 0 (ok), A-B 17 -> 5 with bass (clash), T-B 5 with bass (clash)
    assert (c.part_pairs, c.part_consonant) == (3, 1)


def test_silent_voices_make_no_pairs():
    c = measure(grid([on(67)], [R], [R], [on(48)]), VOICES)
    assert c.lead_pairs == 1 and c.part_pairs == 0


def test_known_parallel_fifth_is_counted():
    # tenor C4 -> D4 and bass F3 -> G3: fifth to fifth, both up
    pa = np.array([60, 60, 62, 62]); pb = np.array([53, 53, 55, 55])
    oa = np.array([True, False, True, False]); ob = oa.copy()
    assert parallels(pa, pb, oa, ob) == (1, 0)


def test_contrary_and_oblique_motion_are_not_parallels():
    # fifth to twelfth by contrary motion: C4/F3 -> G4/C3, upper up, lower down (7 -> 19, both fifths mod 12)
    pa = np.array([60, 67]); pb = np.array([53, 48])
    on2 = np.array([True, True])
    assert parallels(pa, pb, on2, on2) == (0, 0)
    # oblique: only one voice moves
    pa = np.array([60, 60]); pb = np.array([53, 48])
    assert parallels(pa, pb, on2, on2) == (0, 0)
    # repeated fifth (same notes struck again) is no motion
    pa = np.array([60, 60]); pb = np.array([53, 53])
    assert parallels(pa, pb, on2, on2) == (0, 0)


def test_parallel_octaves_and_fifth_to_octave():
    on3 = np.array([True, True, True])
    # octaves C4/C3 -> D4/D3 (parallel octave), then D4/D3 -> E4/A3 (octave -> fifth: nothing)
    assert parallels(np.array([60, 62, 64]), np.array([48, 50, 57]), on3, on3) == (0, 1)
    # rests break the chain: fifth, silence, fifth
    pa = np.array([60, -1, 62]); pb = np.array([53, 53, 55])
    assert parallels(pa, pb, on3, on3) == (0, 0)


def test_parallels_in_a_full_grid():
    # alto and bass move C4/F3 -> D4/G3: one parallel fifth; soprano holds (oblique to everything)
    tokens = grid([on(72), H], [on(60), on(62)], [R, R], [on(53), on(55)])
    c = measure(tokens, VOICES)
    assert c.parallel_fifths == 1 and c.parallel_octaves == 0
    assert summarize(c, ["alto", "tenor", "bass"])["parallel_fifths_per_100"] == 50.0


def test_crossings_and_out_of_range():
    # tenor above alto at both steps (2 crossings); with a narrower bass range, E2 (40) is out of range
    tokens = grid([on(72), H], [on(60), H], [on(64), H], [on(40), H])
    c = measure(tokens, VOICES)
    assert c.crossings == 2
    low = Voice("bass", 45, 64)
    c = measure(tokens, (*VOICES[:3], low))
    assert c.out_of_range == [0, 0, 1]
    assert c.onsets == [1, 1, 1]


def test_notes_per_bar_uses_positions():
    # 2 bars of 4/4 (32 steps) with a pickup of one beat: 3 bars touched
    pos = np.zeros((36, 2), dtype=np.int64)
    for s in range(36):
        q = s + 12  # pickup starts on beat 3 (0-based) of a 16-step bar
        pos[s] = ((q % 16) % 4, (q % 16) // 4)
    assert count_bars(pos, 36) == 3.0
    assert count_bars(None, 32) == 2.0
    alto = [on(60)] + [H] * 35
    tokens = grid([on(72)] + [H] * 35, alto, [on(55)] + [H] * 35, [on(48)] * 36)
    s = summarize(measure(tokens, VOICES, pos), ["alto", "tenor", "bass"])
    assert s["notes_per_bar_alto"] == 1 / 3 and s["notes_per_bar_bass"] == 12.0


def test_counts_add_up():
    a = measure(grid([on(67)], [on(64)], [on(60)], [on(48)]), VOICES)
    b = measure(grid([on(74)], [on(72)], [on(60)], [on(55)]), VOICES)
    total = a + b
    assert total.steps == 2 and total.lead_pairs == 6 and total.lead_consonant == 4
    assert total.onsets == [2, 2, 2]
    assert (HarmonyCounts() + a).onsets == a.onsets
