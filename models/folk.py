"""Folk tunes as lead-only pieces: the Nottingham melodies of ../shared/data/polyphonic/nottingham.json.gz.

The file holds, per tune, the set of MIDI pitches sounding in each 8th-note frame (melody and chords
together); the melody is the highest pitch of a frame. A frame is two 16th steps; a new pitch is an
onset, the same pitch as the frame before is held (repeated notes merge: the frames carry no onsets),
an empty frame is a rest. The file has no meter, so positions assume 4/4. Each tune is moved into the
soprano range (tunes wider than it are skipped): by default whole octaves first, then semitones; with a
random generator into a random key the range allows, as the file's tunes are all in C and a student
trained on them would learn one key. The parts of a folk Piece are rests: the teacher writes them
(models/distill.py).

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


def lead_shifts(pitches: np.ndarray) -> list[int]:
    """Every shift that puts the tune's sounding pitches into the soprano range (none if it is too wide)."""
    sounding = pitches[pitches >= 0]
    if len(sounding) == 0:
        return []
    lo, hi = int(sounding.min()), int(sounding.max())
    return [s for s in range(-36, 37) if lo + s >= LEAD.low and hi + s <= LEAD.high]


def lead_shift(pitches: np.ndarray, rng: np.random.Generator | None = None) -> int | None:
    """The shift into the soprano range; None if the tune is too wide. Without `rng` the one nearest to 0,
    whole octaves first; with it a random key among those the range allows (each key equally likely),
    in the octave nearest to the tune's own."""
    shifts = lead_shifts(pitches)
    if not shifts:
        return None
    if rng is None:
        return min(shifts, key=lambda s: (s % 12 != 0, abs(s)))
    key = int(rng.choice(sorted({s % 12 for s in shifts})))
    return min((s for s in shifts if s % 12 == key), key=abs)


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


def nottingham_pieces(split: str, limit: int | None = None, path: Path | None = None,
                      seed: int | None = None) -> list[Piece]:
    """Lead-only Pieces (parts = rests) of one split of the Nottingham file; with `seed`, each tune in a
    random key (`lead_shift`), the same keys for the same seed."""
    with gzip.open(path or nottingham_path(), "rt") as f:
        tunes = json.load(f)[split]
    rng = None if seed is None else np.random.default_rng(seed)
    out = []
    for i, frames in enumerate(tunes[:limit]):
        pitches = melody_pitches(frames)
        shift = lead_shift(pitches, rng)
        if shift is None:
            continue
        lead = melody_tokens(np.where(pitches >= 0, pitches + shift, -1))
        tokens = np.full((len(lead), 4), VOCAB.rest, dtype=np.int64)
        tokens[:, 0] = lead
        out.append(Piece(f"nottingham-{split}-{i}", tokens, positions_4_4(len(lead))))
    return out
