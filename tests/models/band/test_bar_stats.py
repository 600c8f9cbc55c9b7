"""The GAN's measures on hand-made bars: MuseGAN's statistics, copies of the bar before, memorisation."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.band.grid import GRID_SHAPE, N_BASS, ONSET, SOUND, chord_index
from sideman.models.band.bar_stats import memorisation, musegan_stats, notes, same_as_previous, table

C = chord_index(0, "maj")


def bar(bass: dict[int, int] = {}, comp: dict[int, list[int]] = {}, length: int = 16) -> np.ndarray:
    """bass: cell -> slot starting there, held `length` cells; comp: cell -> comping slots struck, held `length`."""
    g = np.zeros(GRID_SHAPE, np.uint8)
    for cell, slot in bass.items():
        g[cell:cell + length, slot, SOUND] = 1
        g[cell, slot, ONSET] = 1
    for cell, slots in comp.items():
        for s in slots:
            g[cell:cell + length, N_BASS + s, SOUND] = 1
            g[cell, N_BASS + s, ONSET] = 1
    return g


def stats(*grids: np.ndarray, chord: int = C, beats: int = 4) -> dict[str, float]:
    return musegan_stats(np.stack(grids), np.full(len(grids), chord), np.full(len(grids), beats))


def test_a_held_triad_over_its_root():
    s = stats(bar({0: 0}, {0: [1, 2]}))  # C held under E and G
    assert s["empty"] == 0.0 and s["pitch_classes"] == 3 and s["qualified"] == 1.0 and s["polyphony"] == 1.0


def test_empty_bars_and_fragments():
    fragments = bar({c: 0 for c in range(0, 16, 2)}, length=1)  # 16th notes with rests between
    s = stats(np.zeros(GRID_SHAPE, np.uint8), fragments)
    assert s["empty"] == 0.5 and s["pitch_classes"] == 1 and s["qualified"] == 0.0 and s["polyphony"] == 0.0


def test_repeated_starts_cut_notes():
    g = bar({0: 0})
    g[8, 0, ONSET] = 1  # the root struck again half-way: two half-bar notes
    assert notes(g) == [8, 8]


def test_tonal_distance_is_smaller_for_consonant_parts():
    unison = stats(bar({0: 0}, {0: [0]}))["tonal_distance"]
    fifth = stats(bar({0: 0}, {0: [2]}))["tonal_distance"]
    passing = stats(bar({0: 4}, {0: [0]}))["tonal_distance"]  # D in the bass under a C: a second
    assert unison == pytest.approx(0.0) and 0 < fifth < passing
    assert np.isnan(stats(bar({0: 0}))["tonal_distance"])  # no comping: no distance


def test_pitch_classes_follow_the_chord():
    g = bar({0: 0}, {0: [1, 3]})  # root, third, "seventh"
    assert stats(g, chord=chord_index(7, "dom7"))["pitch_classes"] == 3  # G, B, F
    assert stats(g, chord=C)["pitch_classes"] == 2  # a triad's seventh slot doubles the root: C, E


def test_same_as_previous_and_memorisation():
    a, b = bar({0: 0}), bar({0: 2}, {0: [1]})
    assert same_as_previous(np.stack([a, b]), np.stack([a, a])) == 0.5
    m = memorisation(np.stack([a, b]), np.stack([a, a, bar({0: 1})]))
    assert m["copies"] == 0.5 and m["overlap"] == pytest.approx(0.5)  # a: 1, b: nothing in common


def test_table_prints_every_row_and_dashes_missing_values():
    text = table({"real": {**stats(bar({0: 0})), "same_as_previous": 0.1}, "gan": {"bars": 3}})
    lines = text.splitlines()
    assert len(lines) == 4 and "| real | 1 |" in lines[2] and lines[3].count("| -") == 9
