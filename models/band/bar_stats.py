"""MuseGAN's statistics of band bars and a memorisation check; bars are grids [N, CELLS, SLOTS, 2] pitched on chords.

- empty: share of bars where nothing sounds.
- pitch classes: distinct pitch classes sounding in a bar (both parts), mean over non-empty bars.
- qualified notes: share of notes lasting at least QUALIFIED cells (the data's notes are 8ths or longer, so a
  shorter one is a fragment).
- polyphony: share of a bar's cells where more than two pitches sound (the bass plus the comping's distinct tones).
- tonal distance: Euclidean distance between the bass's and the comping's tonal centroids (Harte et al. 2006) over a
  bar, mean over bars where both parts sound; smaller = the parts agree harmonically.
- same as previous: share of bars identical to the bar before (a copy-pasted bar).
- memorisation: for each bar, its largest overlap (Jaccard over the grid's 0/1 entries) with any training bar; the
  mean, and the share that is a training bar exactly.
"""

from __future__ import annotations

import numpy as np

from sideman.bridge.band.grid import CELLS, GRID_SIZE, N_BASS, SLOTS, SOUND, bar_cells, chord_of, slot_pitch_class

QUALIFIED = 2  # cells: an 8th note
# Pitch class of each slot under each chord index: [48, SLOTS].
SLOT_PC = np.array([[slot_pitch_class(s if s < N_BASS else s - N_BASS, *chord_of(c)) for s in range(SLOTS)]
                    for c in range(48)])
_L = np.arange(12)
# Harte's tonal centroid: fifths, minor thirds, major thirds circles (radii 1, 1, 0.5).
PHI = np.array([r * f(_L * a) for r, a in ((1.0, 7 * np.pi / 6), (1.0, 3 * np.pi / 2), (0.5, 2 * np.pi / 3))
                for f in (np.sin, np.cos)])  # [6, 12]


def chroma(grids: np.ndarray, chords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bass, comping) pitch classes sounding per cell: [N, CELLS, 12] 0/1 each."""
    n = len(grids)
    sound = grids[:, :, :, SOUND].astype(bool)
    pcs = SLOT_PC[np.asarray(chords)]  # [N, SLOTS]
    out = []
    for slots in (range(N_BASS), range(N_BASS, SLOTS)):
        c = np.zeros((n, CELLS, 12), np.uint8)
        for s in slots:
            c[np.arange(n)[:, None], np.arange(CELLS)[None, :], pcs[:, s][:, None]] |= sound[:, :, s]
        out.append(c)
    return out[0], out[1]


def notes(grid: np.ndarray) -> list[int]:
    """The lengths in cells of every note of a grid: a run of a slot's sounding cells, cut where it starts anew."""
    lengths = []
    for s in range(SLOTS):
        run = 0
        for cell in range(CELLS):
            if grid[cell, s, SOUND] and run and not grid[cell, s, 1]:
                run += 1
                continue
            if run:
                lengths.append(run)
            run = 1 if grid[cell, s, SOUND] else 0
        if run:
            lengths.append(run)
    return lengths


def tonal_distance(bass: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """Per bar, the distance of the two parts' tonal centroids (NaN where a part is silent): chroma [N, CELLS, 12]."""
    out = np.full(len(bass), np.nan)
    b, c = bass.sum(1).astype(float), comp.sum(1).astype(float)
    both = (b.sum(1) > 0) & (c.sum(1) > 0)
    cb = (b[both] / b[both].sum(1, keepdims=True)) @ PHI.T
    cc = (c[both] / c[both].sum(1, keepdims=True)) @ PHI.T
    out[both] = np.linalg.norm(cb - cc, axis=1)
    return out


def musegan_stats(grids: np.ndarray, chords: np.ndarray, beats: np.ndarray) -> dict[str, float]:
    grids = np.asarray(grids)
    inside = np.stack([np.arange(CELLS) < bar_cells(int(b)) for b in beats])  # [N, CELLS]
    bass, comp = chroma(grids, chords)
    sounding = (bass | comp)
    empty = ~sounding.any(axis=(1, 2))
    used = sounding.any(axis=1).sum(1)
    voices = bass.sum(2) + comp.sum(2)  # pitches sounding per cell
    lengths = np.array([x for g in grids for x in notes(g)])
    td = tonal_distance(bass, comp)
    return {"bars": len(grids), "empty": float(empty.mean()),
            "pitch_classes": float(used[~empty].mean()) if (~empty).any() else 0.0,
            "qualified": float((lengths >= QUALIFIED).mean()) if len(lengths) else 0.0,
            "polyphony": float((voices > 2)[inside].mean()),
            "tonal_distance": float(np.nanmean(td)) if np.isfinite(td).any() else float("nan")}


def same_as_previous(grids: np.ndarray, previous: np.ndarray) -> float:
    g, p = np.asarray(grids), np.asarray(previous)
    return float((g.reshape(len(g), -1) == p.reshape(len(p), -1)).all(1).mean())


def memorisation(grids: np.ndarray, training: np.ndarray, chunk: int = 512) -> dict[str, float]:
    """Mean over `grids` of the largest Jaccard overlap with any bar of `training`, and the share of exact copies."""
    train = np.unique(np.asarray(training).reshape(len(training), GRID_SIZE), axis=0).astype(np.float32)
    train_size = train.sum(1)
    best = []
    flat = np.asarray(grids).reshape(len(grids), GRID_SIZE).astype(np.float32)
    for i in range(0, len(flat), chunk):
        g = flat[i:i + chunk]
        both = g @ train.T
        union = g.sum(1)[:, None] + train_size[None, :] - both
        best.append((both / np.maximum(union, 1.0)).max(1))
    top = np.concatenate(best) if best else np.zeros(0)
    return {"overlap": float(top.mean()), "copies": float((top >= 1.0 - 1e-6).mean())}


COLUMNS = (("bars", "bars", "{:,}"), ("empty", "empty bars", "{:.1%}"), ("pitch_classes", "pitch classes/bar", "{:.2f}"),
           ("qualified", "qualified notes", "{:.1%}"), ("polyphony", "polyphony", "{:.1%}"),
           ("tonal_distance", "tonal distance bass-comping", "{:.3f}"), ("same_as_previous", "same as previous bar", "{:.1%}"),
           ("overlap", "largest overlap with a training bar", "{:.3f}"), ("copies", "a training bar exactly", "{:.1%}"),
           ("noise_differs", "another draw, another bar", "{:.1%}"))


def table(rows: dict[str, dict[str, float]]) -> str:
    """A markdown table: one row per bar source, the columns above (a dash where a source has no value)."""
    lines = ["| bars from | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for name, stats in rows.items():
        cells = [fmt.format(stats[key]) if key in stats else "-" for key, _, fmt in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- the table of docs/band-gan.md -----------------------------------------------------------------------------------
def retrieval(train_chords: np.ndarray, train_beats: np.ndarray, chords: np.ndarray, beats: np.ndarray,
              seed: int = 0) -> np.ndarray:
    """For each (chord, meter), the index of a random training bar with the same chord and meter (same quality and
    meter if the chord never occurs so)."""
    rng = np.random.default_rng(seed)
    by_chord: dict[tuple[int, int], np.ndarray] = {}
    for key in set(zip(train_chords.tolist(), train_beats.tolist())):
        by_chord[key] = np.flatnonzero((train_chords == key[0]) & (train_beats == key[1]))
    out = np.empty(len(chords), np.int64)
    for i, key in enumerate(zip(chords.tolist(), beats.tolist())):
        pool = by_chord.get(key)
        if pool is None:
            pool = np.flatnonzero((train_chords // 12 == key[0] // 12) & (train_beats == key[1]))
        out[i] = pool[rng.integers(len(pool))]
    return out
