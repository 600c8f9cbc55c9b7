"""The recogniser's data: tunes with key labels, tunes with chord labels, all as notes on the 16th grid.

Every source becomes `Example`s: the melody's notes, the accompaniment's notes (empty for a bare
tune), each step's 16th within its beat, and a key and a chord label per step (IGNORE where the
source says nothing). The recogniser hears either the melody alone or melody and accompaniment
(`Example.features`); features come from `sideman.bridge.listen.features`, as at run time.

- Keys: folk tunes of `folk.COLLECTIONS` (notated key, constant over the tune), split 80/10/10 by
  a hash of the tune's group (tunes sharing an opening or a closing phrase are one group, so a tune
  printed in two collections cannot sit on both sides).
- Chords: Nottingham (../shared/data/polyphonic; melody = the highest note of each 8th-note frame,
  its chord = the template chord of the other notes) and the JSB chorales (the template chord of
  all four voices of each quarter-note frame), each with its own train/valid/test split. Frames
  carry no onsets: a note repeated in consecutive frames is heard as one. music21's chorales at 16th
  resolution, labelled per beat, are `chorales.py`'s.
- The Roman-numeral analyses of music21's corpus (`bach/choraleAnalyses`) with their chorales: the
  untouched chord test set (19 of the 20: see UNPAIRED). JSB chorales whose soprano is one of
  theirs are left out of every JSB split.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from sideman.bridge.listen.features import STEPS_PER_BEAT, sequence_features
from sideman.bridge.listen.names import NO_CHORD, chord_pitch_classes, transpose_chord
from sideman.models.listen.chords import match_chord, roman_chord

IGNORE = -100  # label of a step the source does not label
SPLITS = ("train", "valid", "test")
SHARED = Path(os.environ.get("SIDEMAN_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "data" / "polyphonic"
# The analysed chorales, paired with their scores in music21's Bach corpus (from each file's BWV line),
# and the semitones from the analysis's key to the score's (two scores are printed in another key).
ANALYSES = {
    "riemenschneider001": ("bwv269", 0), "riemenschneider002": ("bwv347", 0), "riemenschneider003": ("bwv153.1", 0),
    "riemenschneider004": ("bwv86.6", 0), "riemenschneider005": ("bwv267", 0), "riemenschneider006": ("bwv281", 0),
    "riemenschneider007": ("bwv17.7", 0), "riemenschneider008": ("bwv40.8", 0), "riemenschneider009": ("bwv248.12-2", 0),
    "riemenschneider010": ("bwv38.6", 0), "riemenschneider012": ("bwv65.2", 0), "riemenschneider013": ("bwv33.6", 0),
    "riemenschneider014": ("bwv184.5", 7), "riemenschneider015": ("bwv277", 0), "riemenschneider016": ("bwv311", 0),
    "riemenschneider017": ("bwv145.5", 2), "riemenschneider018": ("bwv318", 0), "riemenschneider019": ("bwv351", 0),
    "riemenschneider020": ("bwv302", 0),
}
# Analyses whose repeat the score writes out: the section [start, end) quarters is heard twice.
WRITTEN_OUT_REPEATS = {"riemenschneider015": (1.0, 17.0)}
# Analyses without a score to pair them with, and why.
UNPAIRED = {"riemenschneider011": "music21's BWV 41.6 is the cantata movement, with instrumental bars between the "
                                  "phrases that the analysis does not count"}
# Every chorale an analysis is of (paired or not): never trained or tuned on.
ANALYSED_CHORALES = frozenset({*(chorale for chorale, _ in ANALYSES.values()), "bwv41.6"})

Notes = np.ndarray  # [N, 3] int: start_step, end_step, pitch


@dataclass(frozen=True)
class Example:
    name: str  # "folk:oneills1850/0001-0050/1", "nottingham:train/12", "jsb:valid/3", "analysis:riemenschneider001"
    melody: Notes
    accompaniment: Notes
    phase: np.ndarray  # [T] int: 16th within the beat
    key: np.ndarray  # [T] int: key index or IGNORE
    chord: np.ndarray  # [T] int: chord index or IGNORE
    bar_ends: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # full bars' end steps (folk)

    @property
    def n_steps(self) -> int:
        return len(self.phase)

    def features(self, with_accompaniment: bool) -> np.ndarray:
        """[T, F] float32: what the recogniser hears, the melody alone or with the accompaniment."""
        notes: Iterable[Any] = self.melody.tolist()
        if with_accompaniment:
            notes = [*notes, *self.accompaniment.tolist()]
        return sequence_features(notes, self.n_steps, self.phase)


def _notes(rows: Iterable[tuple[int, int, int]]) -> Notes:
    out = np.array(sorted(rows), np.int64)
    return out.reshape(-1, 3)


# -- folk tunes: keys --------------------------------------------------------------------------------


def intervals(pitches: Sequence[int]) -> list[int]:
    """Steps between successive different pitches: a melody free of transposition and rhythm."""
    merged = [p for i, p in enumerate(pitches) if i == 0 or p != pitches[i - 1]]
    return [b - a for a, b in zip(merged, merged[1:])]


def melody_keys(notes: Notes, n_head: int = 8, n_tail: int = 12) -> list[str]:
    """A tune's opening and closing intervals, for grouping copies of one tune."""
    iv = intervals([int(p) for p in notes[:, 2]])
    return ["head:" + ",".join(map(str, iv[:n_head])), "tail:" + ",".join(map(str, iv[-n_tail:]))]


def folk_splits(tunes: Sequence[Any]) -> dict[str, list[Any]]:
    """Tunes by split: groups of tunes sharing an opening or closing go whole to one split, by a hash of
    the group's first tune id."""
    from sideman.models.data import assign_splits, group_pieces

    groups = group_pieces({t.id: melody_keys(t.notes) for t in tunes})
    names = assign_splits(groups)
    by_id = {t.id: t for t in tunes}
    return {s: [by_id[n] for n in names[s]] for s in SPLITS}


def folk_example(tune: Any) -> Example:
    n = tune.n_steps
    return Example(f"folk:{tune.id}", tune.notes, _notes([]), tune.phase, np.full(n, tune.key, np.int64),
                   np.full(n, IGNORE, np.int64), tune.bar_ends)


def folk_examples(progress: bool = True) -> tuple[dict[str, list[Example]], dict[str, Any]]:
    from sideman.models.listen.folk import load_folk

    tunes, report = load_folk(progress)
    return {s: [folk_example(t) for t in ts] for s, ts in folk_splits(tunes).items()}, report


# -- Nottingham and JSB: chords from frames ----------------------------------------------------------


def read_polyphonic(name: str) -> dict[str, list[list[list[int]]]]:
    path = SHARED / f"{name}.json.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (see ../shared/README.md)")
    with gzip.open(path, "rt") as f:
        return json.load(f)


def _runs(frames: Sequence[Sequence[int]], steps_per_frame: int) -> list[tuple[int, int, int]]:
    """Notes from frames: a pitch sounding in consecutive frames is one note."""
    notes, open_at = [], {}
    for i, frame in enumerate([*frames, []]):
        now = set(frame)
        for pitch in [p for p in open_at if p not in now]:
            notes.append((open_at.pop(pitch) * steps_per_frame, i * steps_per_frame, pitch))
        for pitch in now - set(open_at):
            open_at[pitch] = i
    return notes


def _pc_weights(pitches: Iterable[int]) -> np.ndarray:
    w = np.zeros(12)
    for p in pitches:
        w[p % 12] = 1.0
    return w


def frames_example(name: str, frames: Sequence[Sequence[int]], steps_per_frame: int, chord_from_melody: bool) -> Example:
    """Melody = the highest note of each frame; the rest is accompaniment. The chord of a frame is the
    template chord of its accompaniment, or of all its notes if `chord_from_melody`."""
    melody = [[max(f)] if f else [] for f in frames]
    rest = [sorted(f)[:-1] for f in frames]
    chords = []
    for f, acc in zip(frames, rest):
        heard = f if chord_from_melody else acc
        chords.append(match_chord(_pc_weights(heard), min(heard)) if heard else NO_CHORD)
    chord = np.repeat(np.array(chords, np.int64), steps_per_frame)
    n = len(chord)
    return Example(name, _notes(_runs(melody, steps_per_frame)), _notes(_runs(rest, steps_per_frame)),
                   _beat_phase(chords, steps_per_frame, n), np.full(n, IGNORE, np.int64), chord)


def _beat_phase(chords: Sequence[int], steps_per_frame: int, n_steps: int) -> np.ndarray:
    """16th within the beat when the frames carry no metre: beats start on the frames (of those a beat
    holds) where the chord changes most often."""
    per_beat = max(1, STEPS_PER_BEAT // steps_per_frame)
    changes = np.zeros(per_beat)
    for i in range(1, len(chords)):
        if chords[i] != chords[i - 1]:
            changes[i % per_beat] += 1
    first = int(np.argmax(changes))  # frames at index = first (mod per_beat) start beats
    return (np.arange(n_steps) - first * steps_per_frame) % STEPS_PER_BEAT


def nottingham_examples() -> dict[str, list[Example]]:
    data = read_polyphonic("nottingham")
    return {s: [frames_example(f"nottingham:{s}/{i}", piece, 2, False) for i, piece in enumerate(data[s]) if piece]
            for s in SPLITS}


def jsb_examples(exclude: Sequence[Sequence[int]] = ()) -> tuple[dict[str, list[Example]], list[str]]:
    """JSB chorales by split, without those whose soprano (sampled once a quarter note) shares a quarter
    or more of its 6-interval phrases with one in `exclude` (the same tune, however harmonised);
    also the names left out."""
    data = read_polyphonic("jsb_chorales")
    out: dict[str, list[Example]] = {s: [] for s in SPLITS}
    left_out = []
    wanted = [phrases(s) for s in exclude]
    for s in SPLITS:
        for i, piece in enumerate(data[s]):
            name = f"jsb:{s}/{i}"
            if shares_phrases([max(f) if f else -1 for f in piece], wanted):
                left_out.append(name)
            elif piece:
                out[s].append(frames_example(name, piece, STEPS_PER_BEAT, True))
    return out, left_out


def phrases(soprano: Sequence[int], n: int = 6) -> set[tuple[int, ...]]:
    iv = intervals(soprano)
    return {tuple(iv[i : i + n]) for i in range(len(iv) - n + 1)}


def shares_phrases(soprano: Sequence[int], wanted: Sequence[set[tuple[int, ...]]]) -> bool:
    """Whether a soprano (sampled once a quarter note) shares a quarter or more of its 6-interval phrases
    with one of `wanted` (each a soprano's `phrases`): the same tune, however harmonised."""
    mine = phrases(soprano)
    return any(len(mine & w) >= 0.25 * len(mine | w) for w in wanted)


# -- the 20 Roman-numeral analyses: the chord test set ------------------------------------------------


@dataclass(frozen=True)
class Analyses:
    examples: list[Example]
    sopranos: list[list[int]]  # soprano pitch at each quarter note, per chorale (to keep JSB copies out)
    left_out: int  # labelled steps whose chord is of none of the four qualities


def _timed_numerals(analysis: str, rn_score: Any) -> list[tuple[float, float, Any]]:
    """(offset, quarters, RomanNumeral) in the score's time, a written-out repeat played twice."""
    from music21 import roman

    out = [(float(rn.offset), float(rn.quarterLength), rn) for rn in rn_score.flatten().getElementsByClass(roman.RomanNumeral)]
    if analysis not in WRITTEN_OUT_REPEATS:
        return out
    start, end = WRITTEN_OUT_REPEATS[analysis]
    again = [(q + end - start, d, rn) for q, d, rn in out if start <= q < end]
    return [(q, d, rn) for q, d, rn in out if q < end] + again + [(q + end - start, d, rn) for q, d, rn in out if q >= end]


def load_analyses() -> Analyses:
    """The analyses (UNPAIRED left out), each with its chorale: all four voices, a chord label at every step
    the analysis covers with a chord of the four qualities."""
    from music21 import converter

    from sideman.models.data import _measure_grid, positions, source_notes
    from sideman.models.listen.folk import corpus_root

    examples, sopranos, left_out = [], [], 0
    for analysis, (chorale, shift) in ANALYSES.items():
        rn_score = converter.parse(corpus_root() / "bach" / "choraleAnalyses" / f"{analysis}.rntxt", format="romantext")
        score = converter.parse(corpus_root() / "bach" / f"{chorale}.mxl")
        voices = source_notes(score)
        n = max(end for v in voices for _, end, _ in v)
        chord = np.full(n, IGNORE, np.int64)
        for offset, quarters, rn in _timed_numerals(analysis, rn_score):
            start = int(round(offset * STEPS_PER_BEAT))
            end = min(n, int(round((offset + quarters) * STEPS_PER_BEAT)))
            label = roman_chord(rn)
            if label is None:
                left_out += max(0, end - start)
            else:
                chord[start:end] = transpose_chord(label, shift)
        phase = positions(_measure_grid(score.parts[0]), n)[:, 0]
        examples.append(Example(f"analysis:{analysis}", _notes(voices[0]), _notes([x for v in voices[1:] for x in v]),
                                phase, np.full(n, IGNORE, np.int64), chord))
        sounding = np.full(n, -1)
        for start, end, pitch in voices[0]:
            sounding[start:end] = pitch
        sopranos.append([int(p) for p in sounding[::STEPS_PER_BEAT]])
    return Analyses(examples, sopranos, left_out)


def bass_agreement(example: Example) -> float:
    """Share of labelled beats whose lowest sounding note is a tone of the labelled chord: a check that
    an analysis and its score line up (and are in the same key)."""
    notes = [*example.melody.tolist(), *example.accompaniment.tolist()]
    hits = total = 0
    for t in range(0, example.n_steps, STEPS_PER_BEAT):
        sounding = [p for start, end, p in notes if start <= t < end]
        if example.chord[t] == IGNORE or not sounding:
            continue
        total += 1
        hits += min(sounding) % 12 in chord_pitch_classes(int(example.chord[t]))
    return hits / max(total, 1)
