"""Bar patterns from hand-made frames: slots relative to the chord, starts vs holds, the meter guess."""

from __future__ import annotations

from sideman.bridge.band.grid import BASS_SLOTS, COMP_SLOTS, N_BASS, ONSET, SOUND, chord_index, chord_of
from sideman.models.band.extract import accompaniment, bar_grid, guess_meter, piece_bars

C, E, G, B_FLAT, D = 48, 52, 55, 58, 50


def test_accompaniment_per_data_set():
    assert accompaniment([48, 52, 55, 64], "nottingham") == [48, 52, 55]
    assert accompaniment([48, 52, 55], "nottingham") == [48, 52, 55]  # the melody rests
    assert accompaniment([40, 55, 62, 79], "piano_midi") == [40, 55]
    assert accompaniment([48, 60, 64, 72], "jsb_chorales") == [48, 60, 64]


def test_bar_grid_starts_holds_and_slots():
    # C major: bass C held two frames, then bass G; comping E+G struck on frame 1 and held, B-flat is no chord tone.
    frames = [[C], [C, E + 12, G + 12], [G, E + 12, G + 12], [D, B_FLAT + 12]]
    grid = bar_grid(frames, [], chord_index(0, "maj"))
    root, fifth, passing = (BASS_SLOTS.index(s) for s in ("root", "fifth", "passing"))
    assert grid[0:4, root, SOUND].all() and grid[0, root, ONSET] and not grid[2, root, ONSET]
    assert grid[4, fifth, ONSET] and grid[4:6, fifth, SOUND].all() and not grid[4:6, root, SOUND].any()
    assert grid[6, passing, ONSET]  # D under C major
    third = N_BASS + COMP_SLOTS.index("third")
    assert grid[2, third, ONSET] and grid[4, third, SOUND] and not grid[4, third, ONSET]
    assert not grid[6:8, N_BASS:, :].any()  # B-flat is not a C major tone: the comping rests
    assert not grid[8:].any()


def test_meter_guess():
    c, f = [C, E, G], [41, 45, 48]
    waltz = ([c] * 6 + [f] * 6) * 4
    common = ([c] * 8 + [f] * 8) * 3
    assert guess_meter(waltz)[0] == 3
    assert guess_meter(common)[0] == 4


def test_piece_bars_find_the_chord():
    piece = [[43, 47, 50, 67]] * 8 + [[48, 52, 55, 72]] * 8  # G major bar, then C major (melody on top)
    bars = piece_bars(piece, "nottingham")
    assert [chord_of(chord) for _, _, chord in bars] == [(7, "maj"), (0, "maj")]
    assert all(beats == 4 for _, beats, _ in bars)
