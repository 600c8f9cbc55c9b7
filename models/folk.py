"""Folk tunes as lead-only pieces: the Nottingham melodies of ../shared/data/polyphonic/nottingham.json.gz.

The file holds, per tune, the set of MIDI pitches sounding in each 8th-note frame (melody and chords
together); the melody is the highest pitch of a frame. A frame is two 16th steps; a new pitch is an
onset, the same pitch as the frame before is held (repeated notes merge: the frames carry no onsets),
an empty frame is a rest. The file has no meter, so positions assume 4/4. Each tune is moved by whole
octaves, then semitones, into the soprano range; tunes wider than it are skipped. The parts of a folk
Piece are rests: the teacher writes them (models/distill.py).

music21's `airdsAirs` collection is reserved for acceptance and is never read here.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np

from sideman.models.data import LEAD, STEPS_PER_BEAT, VOCAB, Piece

FRAME_STEPS = 2  # a frame is an 8th note
BEATS_IN_BAR = 4


def nottingham_path() -> Path:
    """SIDEMAN_NOTTINGHAM, or the shared data folder beside the repository."""
    env = os.environ.get("SIDEMAN_NOTTINGHAM")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parent.parent
    for base in (root.parent / "shared", root.parent.parent / "shared", Path("/work/shared")):
        path = base / "data" / "polyphonic" / "nottingham.json.gz"
        if path.is_file():
            return path
    raise FileNotFoundError("nottingham.json.gz not found (set SIDEMAN_NOTTINGHAM)")


def melody_pitches(frames: list[list[int]]) -> np.ndarray:
    """Pitch sets per 8th frame -> [frames] top pitch, -1 for an empty frame."""
    return np.array([max(f) if f else -1 for f in frames], dtype=np.int64)


def lead_shift(pitches: np.ndarray) -> int | None:
    """The shift into the soprano range nearest to 0, whole octaves first; None if the tune is too wide."""
    sounding = pitches[pitches >= 0]
    if len(sounding) == 0:
        return None
    lo, hi = int(sounding.min()), int(sounding.max())
    shifts = [s for s in range(-36, 37) if lo + s >= LEAD.low and hi + s <= LEAD.high]
    return min(shifts, key=lambda s: (s % 12 != 0, abs(s))) if shifts else None


def melody_tokens(pitches: np.ndarray) -> np.ndarray:
    """[frames] top pitches -> [2 * frames] lead tokens (same pitch as the frame before = held; -1 = rest)."""
    out = np.full(len(pitches) * FRAME_STEPS, VOCAB.rest, dtype=np.int64)
    before = -1
    for i, top in enumerate(pitches.tolist()):
        if top >= 0:
            out[i * FRAME_STEPS] = VOCAB.hold if top == before else VOCAB.onset(top)
            out[i * FRAME_STEPS + 1 : (i + 1) * FRAME_STEPS] = VOCAB.hold
        before = top
    return out


def positions_4_4(n_steps: int) -> np.ndarray:
    s = np.arange(n_steps)
    return np.stack([s % STEPS_PER_BEAT, (s // STEPS_PER_BEAT) % BEATS_IN_BAR], axis=1).astype(np.int64)


def nottingham_pieces(split: str, limit: int | None = None, path: Path | None = None) -> list[Piece]:
    """Lead-only Pieces (parts = rests) of one split of the Nottingham file."""
    with gzip.open(path or nottingham_path(), "rt") as f:
        tunes = json.load(f)[split]
    out = []
    for i, frames in enumerate(tunes[:limit]):
        pitches = melody_pitches(frames)
        shift = lead_shift(pitches)
        if shift is None:
            continue
        lead = melody_tokens(np.where(pitches >= 0, pitches + shift, -1))
        tokens = np.full((len(lead), 4), VOCAB.rest, dtype=np.int64)
        tokens[:, 0] = lead
        out.append(Piece(f"nottingham-{split}-{i}", tokens, positions_4_4(len(lead))))
    return out
