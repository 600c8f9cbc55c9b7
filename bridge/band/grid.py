"""A bar's accompaniment pattern relative to its chord: which chord-tone slot sounds, and starts, in each 16th cell.

The grid is [CELLS, SLOTS, 2] of 0/1: channel 0 = the slot sounds in the cell, channel 1 = it starts there (a start
implies it sounds). Slots 0-4 are the bass (root, third, fifth, seventh, passing), 5-8 the comping (root, third, fifth,
seventh). A 3/4 bar uses the first 12 cells and leaves the rest empty. Chords are (root, quality) with the four
qualities of the recogniser (bridge/listen/names.py): maj, min, dom7, dim.
"""

from __future__ import annotations

import numpy as np

CELLS = 16  # 16ths of a 4/4 bar
CELLS_PER_BEAT = 4
BASS_SLOTS = ("root", "third", "fifth", "seventh", "passing")
COMP_SLOTS = ("root", "third", "fifth", "seventh")
N_BASS = len(BASS_SLOTS)
SLOTS = N_BASS + len(COMP_SLOTS)
SOUND, ONSET = 0, 1
GRID_SHAPE = (CELLS, SLOTS, 2)
GRID_SIZE = CELLS * SLOTS * 2

QUALITIES = ("maj", "min", "dom7", "dim")
# Interval of each chord-tone slot above the root, per quality (a triad's "seventh" slot doubles the root).
_TONES = {"maj": (0, 4, 7, 0), "min": (0, 3, 7, 0), "dom7": (0, 4, 7, 10), "dim": (0, 3, 6, 9)}
PASSING = 2  # the bass's passing tone: a step above the root (in both major and minor)
TEMPLATES = np.array([[1.0 if (pc - root) % 12 in _TONES[q] else 0.0 for pc in range(12)]
                      for q in QUALITIES for root in range(12)], np.float32)  # [48, 12], index q * 12 + root
# A plain triad wins a tie against a seventh or diminished chord: it is the likelier reading of few notes.
_PRIOR = np.repeat(np.array([0.1, 0.08, -0.1, -0.15], np.float32), 12)


def chord_index(root: int, quality: str) -> int:
    return QUALITIES.index(quality) * 12 + root % 12


def chord_of(index: int) -> tuple[int, str]:
    return index % 12, QUALITIES[index // 12]


def estimate_chord(weights: np.ndarray) -> int | None:
    """The chord (index) whose tones best cover the pitch-class weights [12]: tones heard count, tones outside cost
    half as much, a missing chord tone costs a little, and a heard root helps; None if nothing was heard."""
    total = float(weights.sum())
    if total <= 0.0:
        return None
    w = weights / total
    inside = TEMPLATES @ w
    missing = (TEMPLATES * (w[None, :] <= 0.0)).sum(axis=1) / TEMPLATES.sum(axis=1)
    root_heard = np.tile(w, len(QUALITIES))  # the note heard most is likelier the root than another tone
    score = inside - 0.5 * (1.0 - inside) - 0.2 * missing + 0.1 * root_heard + _PRIOR
    return int(np.argmax(score))


def slot_of(pc: int, root: int, quality: str, bass: bool) -> int | None:
    """The slot a pitch class takes under a chord (bass slots 0-4, comping 0-3 before the offset), None if none."""
    interval = (pc - root) % 12
    tones = _TONES[quality]
    for slot, tone in enumerate(tones[:3] + ((tones[3],) if tones[3] else ())):
        if interval == tone:
            return slot
    return BASS_SLOTS.index("passing") if bass else None


def slot_pitch_class(slot: int, root: int, quality: str) -> int:
    """The pitch class a slot (bass 0-4 or comping 0-3) plays under a chord."""
    if slot == BASS_SLOTS.index("passing"):
        return (root + PASSING) % 12
    return (root + _TONES[quality][slot]) % 12


def pitch_in(pc: int, low: int, high: int, near: int) -> int:
    """The pitch of class `pc` in [low, high] closest to `near` (the nearest to the range if none fits)."""
    candidates = [p for p in range(low, high + 1) if p % 12 == pc]
    if not candidates:
        return low + (pc - low) % 12
    return min(candidates, key=lambda p: (abs(p - near), p))


def bar_cells(beats_per_bar: int) -> int:
    return min(CELLS, max(1, beats_per_bar) * CELLS_PER_BEAT)


def binarise(probs: np.ndarray, beats_per_bar: int, threshold: float = 0.5) -> np.ndarray:
    """A playable grid from decoder probabilities [CELLS, SLOTS, 2]: the bass sounds (starts) where its slots together
    are likely to sound (start), on its likeliest slot, being one voice; a comping slot where it is likely itself; a
    start only where the slot sounds, and wherever a slot begins to sound; nothing past the bar's cells."""
    p = np.asarray(probs, np.float32).reshape(GRID_SHAPE)
    grid = (p > threshold).astype(np.uint8)
    bass = p[:, :N_BASS, :]
    cells = np.arange(CELLS)
    keep = np.argmax(bass[:, :, SOUND], axis=1)
    grid[:, :N_BASS, :] = 0
    grid[cells, keep, SOUND] = bass[:, :, SOUND].sum(axis=1) > threshold
    grid[cells, keep, ONSET] = bass[:, :, ONSET].sum(axis=1) > threshold
    grid[:, :, ONSET] &= grid[:, :, SOUND]
    starts = grid[:, :, SOUND] & (1 - np.vstack([np.zeros((1, SLOTS), np.uint8), grid[:-1, :, SOUND]]))
    grid[:, :, ONSET] |= starts
    grid[bar_cells(beats_per_bar):] = 0
    return grid
