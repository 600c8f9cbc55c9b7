"""Bar patterns relative to the chord (bridge/band/grid.py) from the shared polyphonic data sets.

Frames are 8th notes, so each frame fills two 16th cells: a note absent from the previous frame starts in the first.
The accompaniment of a frame: Nottingham, every note below the melody (the top note, if at or above middle C);
Piano-midi and MuseData, the left hand (notes below middle C); JSB chorales, every voice below the soprano. Its
lowest note is the bass, the rest the comping. The bar's chord is the template match of its accompaniment's pitch
classes (the bass counts twice); the meter (3/4 or 4/4) and the bar lines are guessed from where the chords change.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sideman.bridge.band.grid import GRID_SHAPE, N_BASS, ONSET, SOUND, chord_of, estimate_chord, slot_of

DATA = Path("/work/shared/data/polyphonic")
SETS = ("nottingham", "piano_midi", "musedata", "jsb_chorales")
MIDDLE_C = 60


@dataclass(frozen=True)
class Bars:
    grids: np.ndarray  # [N, CELLS, SLOTS, 2] uint8
    beats: np.ndarray  # [N] 3 or 4
    chords: np.ndarray  # [N] chord index (bridge/band/grid.py)
    source: np.ndarray  # [N] index into SETS


def accompaniment(frame: list[int], data_set: str) -> list[int]:
    notes = sorted(frame)
    if data_set == "nottingham":
        return notes[:-1] if notes and notes[-1] >= MIDDLE_C else notes
    if data_set == "jsb_chorales":
        return notes[:-1]
    return [n for n in notes if n < MIDDLE_C]


def guess_meter(frames: list[list[int]]) -> tuple[int, int]:
    """(beats per bar, first bar's frame offset) from where the accompaniment's pitch-class set changes: 3/4 if the
    changes fall on a 6-frame grid more often than on a 4-frame one."""
    sets = [frozenset(n % 12 for n in f) for f in frames]
    changes = [i for i in range(1, len(sets)) if sets[i] != sets[i - 1] and sets[i]]
    if not changes:
        return 4, 0

    def best(period: int) -> tuple[float, int]:
        scores = [(sum((c - ph) % period == 0 for c in changes) / len(changes), ph) for ph in range(period)]
        return max(scores)

    s3, ph3 = best(6)
    s4, ph4 = best(4)
    return (3, ph3) if s3 > s4 else (4, ph4 % 4)


def bar_grid(frames: list[list[int]], prev: list[int], chord: int) -> np.ndarray:
    root, quality = chord_of(chord)
    grid = np.zeros(GRID_SHAPE, np.uint8)
    before = (min(prev),) if prev else ()
    before_comp = set(n % 12 for n in sorted(prev)[1:])
    for i, notes in enumerate(frames):
        cells = (2 * i, 2 * i + 1)
        if notes:
            bass = notes[0]
            slot = slot_of(bass % 12, root, quality, bass=True)
            grid[cells, slot, SOUND] = 1
            if bass not in before:
                grid[cells[0], slot, ONSET] = 1
        comp = set(n % 12 for n in notes[1:])
        for pc in comp:
            slot = slot_of(pc, root, quality, bass=False)
            if slot is None:
                continue
            grid[cells, N_BASS + slot, SOUND] = 1
            if pc not in before_comp:
                grid[cells[0], N_BASS + slot, ONSET] = 1
        before = (notes[0],) if notes else ()
        before_comp = comp
    return grid


def piece_bars(piece: list[list[int]], data_set: str) -> list[tuple[np.ndarray, int, int]]:
    """(grid, beats, chord) of every bar of a piece with some accompaniment."""
    frames = [accompaniment(f, data_set) for f in piece]
    beats, offset = guess_meter(frames)
    per_bar = 2 * beats  # 8th-note frames in a bar
    out = []
    for start in range(offset, len(frames) - per_bar + 1, per_bar):
        bar = frames[start:start + per_bar]
        if not any(bar):
            continue
        weights = np.zeros(12, np.float32)
        for notes in bar:
            for k, n in enumerate(notes):
                weights[n % 12] += 2.0 if k == 0 else 1.0
        chord = estimate_chord(weights)
        if chord is None:
            continue
        prev = frames[start - 1] if start > 0 else []
        out.append((bar_grid(bar, prev, chord), beats, chord))
    return out


def load_bars(split: str, sets: tuple[str, ...] = SETS, limit: int | None = None) -> Bars:
    """Every bar of a split ('train', 'valid', 'test': the data's own splits) of the given data sets."""
    grids, beats, chords, source = [], [], [], []
    for k, name in enumerate(sets):
        with gzip.open(DATA / f"{name}.json.gz", "rt") as f:
            pieces = json.load(f)[split]
        for piece in pieces[:limit]:
            for grid, b, chord in piece_bars(piece, name):
                grids.append(grid)
                beats.append(b)
                chords.append(chord)
                source.append(SETS.index(name))
    if not grids:
        return Bars(np.zeros((0, *GRID_SHAPE), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    return Bars(np.stack(grids), np.array(beats), np.array(chords), np.array(source))

