"""Monteverdi's madrigals with their Roman-numeral analyses (music21's `monteverdi` corpus): analyst chords to
train and choose settings on, never the chord test set (that is the Bach analyses, `data.load_analyses`).

Each analysis (`madrigal.B.N.rntxt`) is paired with its score (`madrigal.B.N.mxl`) and becomes an `Example`
as `load_analyses` builds one: every part heard, the top part (Canto) the melody, the measure phase, a chord
label per step from the analyst's numeral (`chords.roman_chord`; numerals of none of the four qualities and
steps no numeral covers are IGNORE). A pair whose analysis does not line up with its score
(`data.bass_agreement` below MIN_BASS_AGREEMENT) is left out, with the figure. Split by piece
(`madrigal_split`): a hash of the name, so a piece never sits on both sides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from sideman.bridge.listen.features import STEPS_PER_BEAT
from sideman.models.listen.data import IGNORE, Example, _notes, bass_agreement

# The lowest share of labelled beats whose bass is a chord tone for a pair to count as lined up: the
# Bach pairs score 0.86 and up, a pair shifted by a beat or in another key falls far below.
MIN_BASS_AGREEMENT = 0.75
VALID_SHARE = 0.25  # of the madrigals, by a hash of the name


@dataclass(frozen=True)
class Madrigals:
    examples: list[Example]
    agreement: dict[str, float]  # bass_agreement of every pair, kept or not
    left_out: dict[str, str]  # madrigal -> why it was left out
    unscored_steps: int  # labelled steps whose chord is of none of the four qualities

    def split(self, name: str) -> list[Example]:
        """The examples of split `name` ("train", "valid"; "all": every one), by `madrigal_split`."""
        return [e for e in self.examples if name == "all" or madrigal_split(e.name.removeprefix("madrigal:")) == name]


def madrigal_names() -> list[str]:
    """The analysed madrigals ("madrigal.3.1", ...), each with its score in the corpus, sorted."""
    from sideman.models.listen.folk import corpus_root

    folder = corpus_root() / "monteverdi"
    names = [p.name.removesuffix(".rntxt") for p in folder.glob("madrigal.*.rntxt")]
    return sorted((n for n in names if (folder / f"{n}.mxl").is_file()),
                  key=lambda n: tuple(int(x) for x in n.split(".")[1:]))


def measure_offsets(parts: Sequence[Any]) -> list[tuple[int | str, float, float]]:
    """(number, offset, quarters) of each measure, the quarters the median of the parts' lengths: a part
    whose measure is overfull (an extra whole rest) or short does not move the others."""
    measures = [list(p.getElementsByClass("Measure")) for p in parts]
    if len({len(m) for m in measures}) != 1:
        raise ValueError(f"parts have {sorted({len(m) for m in measures})} measures")
    out, offset = [], 0.0
    for bar in zip(*measures):
        quarters = float(np.median([float(m.duration.quarterLength) for m in bar]))
        out.append((bar[0].number, offset, quarters))
        offset += quarters
    return out


def part_notes(part: Any, grid: Sequence[tuple[int | str, float, float]], top_only: bool) -> list[tuple[int, int, int]]:
    """(start_step, end_step, pitch) of one part placed on `grid` (what lies past a measure's length dropped),
    ties merged; a chord gives all its notes, or its top one."""
    out: list[list[int]] = []
    for (_, offset, quarters), measure in zip(grid, part.getElementsByClass("Measure")):
        for n in measure.flatten().notes:
            if n.duration.isGrace or n.quarterLength == 0 or float(n.offset) >= quarters:
                continue
            start = int(round((offset + float(n.offset)) * STEPS_PER_BEAT))
            end = int(round((offset + min(float(n.offset + n.quarterLength), quarters)) * STEPS_PER_BEAT))
            tied = n.tie is not None and n.tie.type in ("stop", "continue")
            for p in sorted(p.midi for p in n.pitches)[-1 if top_only else 0 :]:
                held = [x for x in out if tied and x[1] == start and x[2] == p]
                if held:
                    held[-1][1] = end
                elif end > start:
                    out.append([start, end, p])
    return [(a, b, p) for a, b, p in out]


def analyst_chords(rn_score: Any, grid: Sequence[tuple[int | str, float, float]], n_steps: int) -> tuple[np.ndarray, int]:
    """[T] the analyst's chord per step (IGNORE where none or of none of the four qualities), each numeral
    placed by its measure number and its offset in that measure; also the steps left out for their quality."""
    from music21 import roman

    from sideman.models.listen.chords import roman_chord

    at = {number: offset for number, offset, _ in grid}
    chord = np.full(n_steps, IGNORE, np.int64)
    unscored = 0
    for measure in rn_score.parts[0].getElementsByClass("Measure"):
        if measure.number not in at:
            continue
        for rn in measure.getElementsByClass(roman.RomanNumeral):
            start = int(round((at[measure.number] + float(rn.offset)) * STEPS_PER_BEAT))
            end = min(n_steps, start + int(round(float(rn.quarterLength) * STEPS_PER_BEAT)))
            label = roman_chord(rn)
            if label is None:
                unscored += max(0, end - start)
            else:
                chord[start:end] = label
    return chord, unscored


def madrigal_example(name: str) -> tuple[Example, int]:
    """One madrigal as an Example (all parts, analyst labels), and its steps left out for their quality."""
    from music21 import converter

    from sideman.models.data import _measure_grid, positions
    from sideman.models.listen.folk import corpus_root

    folder = corpus_root() / "monteverdi"
    rn_score = converter.parse(folder / f"{name}.rntxt", format="romantext")
    score = converter.parse(folder / f"{name}.mxl")
    grid = measure_offsets(score.parts)
    voices = [part_notes(p, grid, top_only=i == 0) for i, p in enumerate(score.parts)]
    n = max(end for v in voices for _, end, _ in v)
    chord, unscored = analyst_chords(rn_score, grid, n)
    metre = [(offset, pad, bar) for (_, offset, _), (_, pad, bar) in zip(grid, _measure_grid(score.parts[0]))]
    phase = positions(metre, n)[:, 0]
    return Example(f"madrigal:{name}", _notes(voices[0]), _notes([x for v in voices[1:] for x in v]), phase,
                   np.full(n, IGNORE, np.int64), chord), unscored


def monteverdi_analyses(names: Sequence[str] | None = None) -> Madrigals:
    """The analysed madrigals (all, or `names`) that line up with their scores."""
    examples, agreement, left_out, unscored = [], {}, {}, 0
    for name in madrigal_names() if names is None else names:
        example, steps = madrigal_example(name)
        agreement[name] = bass_agreement(example)
        if agreement[name] < MIN_BASS_AGREEMENT:
            left_out[name] = f"bass is a chord tone on {agreement[name]:.2f} of labelled beats"
            continue
        examples.append(example)
        unscored += steps
    return Madrigals(examples, agreement, left_out, unscored)


def madrigal_split(name: str) -> str:
    """'valid' for about VALID_SHARE of the madrigals (by a hash of the name), else 'train'."""
    h = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "valid" if h < VALID_SHARE else "train"
