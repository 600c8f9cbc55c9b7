"""The tune sets the harness measures on, chosen deterministically (evenly spaced through a split).

- folk-valid, folk-test: Nottingham tunes from ../shared/data/polyphonic (Boulanger-Lewandowski's
  splits). A frame is an 8th note (two 16th steps); the melody is the highest note of each frame and the
  rest of the frame is the human chord accompaniment (bass = its lowest note, the others from the top
  down). The same pitch in consecutive frames is one held note, as the frames carry no onsets. The data
  has no meter or key: the meter is inferred from where the chords change and the melody moves
  (`infer_meter`), the key is the Krumhansl key of the whole melody (keys.krumhansl).
- chorale-valid, chorale-test: the committed chorale splits of models/splits/ (the shipped model never
  trained on them), parsed from music21's Bach chorales by models/data.py; soprano = tune, Bach's alto,
  tenor and bass = the human parts; the key is the notated key signature, major or relative minor by
  the soprano's correlation (keys.key_from_signature).
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from sideman.bridge.errors import SidemanError
from sideman.models.quality.grid import Meter, Parts, Tune, held_line, pad_front
from sideman.models.quality.keys import key_from_signature, krumhansl

# ../shared beside the project root; SIDEMAN_SHARED names another place.
SHARED = Path(os.environ.get("SIDEMAN_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
NOTTINGHAM = SHARED / "data" / "polyphonic" / "nottingham.json.gz"
STEPS_PER_FRAME = 2  # Nottingham frames are 8th notes
MAX_HUMAN_PARTS = 4
SETS = ("folk-valid", "folk-test", "chorale-valid", "chorale-test")
DEFAULT_LIMIT = 30


class TuneSetError(SidemanError, FileNotFoundError):
    """A tune set's data is missing; the message says where it was looked for."""


@dataclass(frozen=True)
class MeterGuess:
    meter: Meter
    frames_per_beat: int
    frames_per_bar: int


METER_GUESSES = (MeterGuess(Meter(4, 4), 2, 8), MeterGuess(Meter(4, 3), 2, 6), MeterGuess(Meter(6, 2), 3, 6))


def pick(n: int, limit: int | None) -> list[int]:
    """`limit` indices spread evenly over range(n) (all of them without a limit)."""
    if limit is None or limit >= n:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, max(limit, 1)).round()})


def infer_meter(chords: Sequence[tuple[int, ...]], melody: Sequence[int]) -> tuple[MeterGuess, int]:
    """(meter, phase): the meter and downbeat frame (mod the bar) that put the most chord changes on bar
    starts (weight 3) and beats (weight 1) and the most melody onsets on beats, each above what chance
    would give that meter. Ties: 4/4 before 3/4 before 6/8, the earliest phase."""
    changes = np.array([t for t in range(1, len(chords)) if chords[t] != chords[t - 1]], dtype=np.int64)
    mel = np.asarray(melody)
    moves = np.flatnonzero((mel >= 0) & np.concatenate([[True], mel[1:] != mel[:-1]]))
    best, best_score = (METER_GUESSES[0], 0), -np.inf
    for guess in METER_GUESSES:
        bar, beat = guess.frames_per_bar, guess.frames_per_beat
        chance_chord = (2 + bar / beat) / bar
        for phase in range(bar):
            score = 0.0
            if len(changes):
                pos = (changes - phase) % bar
                score += np.mean(2 * (pos == 0) + (pos % beat == 0)) - chance_chord
            if len(moves):
                score += np.mean((moves - phase) % beat == 0) - 1 / beat
            if score > best_score + 1e-12:
                best, best_score = (guess, phase), score
    return best


def human_chord_parts(chords: Sequence[tuple[int, ...]], n_parts: int) -> np.ndarray:
    """[frames, n_parts] pitches: the lowest note of each chord in the last column (the bass), the
    others from the top down in the first columns; -1 where a chord has fewer notes."""
    out = np.full((len(chords), n_parts), -1, dtype=np.int64)
    for t, chord in enumerate(chords):
        if not chord:
            continue
        notes = sorted(chord)
        out[t, -1] = notes[0]
        upper = notes[1:][::-1][: n_parts - 1]
        out[t, : len(upper)] = upper
    return out


def folk_tune(name: str, frames: Sequence[Sequence[int]], align: bool = True) -> Tune:
    """One Nottingham tune; `align` False starts the grid at its first frame (a pickup taken as a downbeat)."""
    melody = [max(f) if f else -1 for f in frames]
    chords = [tuple(sorted(f)[:-1]) for f in frames]
    guess, phase = infer_meter(chords, melody)
    pad = ((guess.frames_per_bar - phase) % guess.frames_per_bar) * STEPS_PER_FRAME if align else 0
    pitch, onset = pad_front(*held_line(melody, STEPS_PER_FRAME), pad)
    n_parts = max(1, min(MAX_HUMAN_PARTS, max(len(c) for c in chords)))
    frames_parts = human_chord_parts(chords, n_parts)
    cols = [held_line(frames_parts[:, k], STEPS_PER_FRAME) for k in range(n_parts)]
    hp, ho = pad_front(np.stack([c[0] for c in cols], axis=1), np.stack([c[1] for c in cols], axis=1), pad)
    return Tune(name, pitch, onset, guess.meter, krumhansl(pitch), Parts(hp, ho))


def folk_tunes(split: str, limit: int | None = DEFAULT_LIMIT, align: bool = True, path: Path = NOTTINGHAM) -> list[Tune]:
    if not path.is_file():
        raise TuneSetError(f"{path}: Nottingham data not found (looked in ../shared beside the project, or SIDEMAN_SHARED)")
    with gzip.open(path, "rt") as f:
        pieces = json.load(f)[split]
    return [folk_tune(f"nottingham-{split}-{i}", pieces[i], align) for i in pick(len(pieces), limit)]


def _signature_sharps(path: Path) -> int:
    from music21 import converter

    score = converter.parse(path)
    sig = next(iter(score.recurse().getElementsByClass("KeySignature")), None)
    return int(sig.sharps) if sig is not None else 0


def chorale_tune(path: Path, align: bool = True) -> Tune:
    """One chorale; `align` False starts the grid at its first note (a pickup taken as a downbeat)."""
    from sideman.models.data import VOCAB, parse_piece, sounding_pitches

    piece = parse_piece(path)
    step_in_beat, beat = (int(x) for x in piece.position[0])
    pad = beat * 4 + step_in_beat if align else 0  # steps of the first bar before the piece starts
    pitch = sounding_pitches(piece.tokens)
    onset = (piece.tokens >= VOCAB.onset_offset) & (piece.tokens < VOCAB.size)
    pitch, onset = pad_front(pitch, onset, pad)
    meter = Meter(4, int(piece.position[:, 1].max()) + 1)
    key = key_from_signature(_signature_sharps(path), pitch[:, 0])
    return Tune(piece.name, pitch[:, 0], onset[:, 0], meter, key, Parts(pitch[:, 1:], onset[:, 1:]))


def chorale_tunes(split: str, limit: int | None = DEFAULT_LIMIT, align: bool = True) -> list[Tune]:
    from sideman.models.data import PieceError, corpus_paths, read_splits

    names = read_splits()[split]
    root = corpus_paths()[0].parent
    tunes = []
    for i in pick(len(names), limit):
        try:
            tunes.append(chorale_tune(root / names[i], align))
        except PieceError:  # the split lists only pieces that parse; a music21 upgrade could change that
            continue
    return tunes


def load_set(name: str, limit: int | None = DEFAULT_LIMIT, align: bool = True) -> list[Tune]:
    """The tunes of a set; `align` False feeds every tune from its first note as if that were a downbeat
    (what a player without a clock gets, as the internal clock starts on the first note)."""
    family, split = name.split("-", 1)
    if name not in SETS:
        raise ValueError(f"unknown tune set {name!r}; choose from {', '.join(SETS)}")
    return folk_tunes(split, limit, align) if family == "folk" else chorale_tunes(split, limit, align)
