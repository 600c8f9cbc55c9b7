"""music21's Bach chorales at 16th resolution, with a chord label per beat: the recogniser's chorale texture.

The chorales come from `sideman.models.data` (parsed once and cached; split by tune there). Each is
heard as the soprano alone or all four voices, every passing and neighbour note in place. The label
of a beat is the template chord (`chords.match_chord`) of the notes sounding at the beat's first
16th, the lowest of them as the bass, held for the whole beat: a note struck after the onset (a
passing or neighbour tone, an anticipation) never changes the beat's chord, as an analyst hears it.
Steps before the first beat onset (a pickup's part-beat) are unlabelled.

Left out of every split: the chorales the Roman-numeral analyses pair with (`data.ANALYSED_CHORALES`,
the chord test set), any chorale whose soprano is one of theirs (the same tune, however harmonised),
any that is a piece of the JSB test split (its soprano and its bass both match), and the
accompaniment model's chorale test split (its measures drive the engine with this recogniser).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sideman.bridge.listen.features import STEPS_PER_BEAT
from sideman.bridge.listen.names import NO_CHORD
from sideman.models.listen.chords import match_chord
from sideman.models.listen.data import ANALYSED_CHORALES, IGNORE, Example, _notes, _pc_weights, phrases, shares_phrases

CHORALE_SPLITS = ("train", "valid")


def beat_chords(notes: Sequence[tuple[int, int, int]], phase: np.ndarray) -> np.ndarray:
    """[T] chord label per step: each beat (from a step of phase 0 to the next) takes the template chord
    of the notes sounding at its first step; NO_CHORD where nothing sounds there; IGNORE before the
    first beat."""
    n = len(phase)
    sounding: list[list[int]] = [[] for _ in range(n)]
    for start, end, pitch in notes:
        for t in range(max(start, 0), min(end, n)):
            sounding[t].append(pitch)
    onsets = np.flatnonzero(np.asarray(phase) == 0)
    out = np.full(n, IGNORE, np.int64)
    for a, b in zip(onsets, [*onsets[1:], n]):
        heard = sounding[a]
        out[a:b] = match_chord(_pc_weights(heard), min(heard)) if heard else NO_CHORD
    return out


def chorale_example(name: str, voices: Sequence[Sequence[tuple[int, int, int]]], phase: np.ndarray) -> Example:
    """Soprano = the melody, alto, tenor and bass = the accompaniment, labelled by `beat_chords`."""
    n = len(phase)
    everything = [x for v in voices for x in v]
    return Example(name, _notes(voices[0]), _notes([x for v in voices[1:] for x in v]), np.asarray(phase, np.int64),
                   np.full(n, IGNORE, np.int64), beat_chords(everything, phase))


def quarter_pitches(voice: Sequence[tuple[int, int, int]], n_steps: int) -> list[int]:
    """A voice's pitch at each quarter note (-1 in rests): how tunes and pieces are compared."""
    sounding = np.full(n_steps, -1)
    for start, end, pitch in voice:
        sounding[start:end] = pitch
    return [int(p) for p in sounding[::STEPS_PER_BEAT]]


def chorale_examples(analysed_sopranos: Sequence[Sequence[int]], jsb_test: Sequence[Sequence[Sequence[int]]],
                     progress: bool = True) -> tuple[dict[str, list[Example]], dict[str, list[str]]]:
    """The chorales of the accompaniment model's train and valid splits as Examples, without the analysed
    chorales, any whose soprano is the tune of one of `analysed_sopranos` (quarter-note sopranos), and
    any that is one of the JSB test split's pieces (`jsb_test`, quarter-note frames: soprano and bass
    both match); also the names left out, by reason."""
    from sideman.models.data import load_dataset, tokens_to_notes

    dataset = load_dataset(progress=progress)
    tunes = [phrases(s) for s in analysed_sopranos]
    pieces = [(phrases([max(f) if f else -1 for f in piece]), phrases([min(f) if f else -1 for f in piece]))
              for piece in jsb_test]
    out: dict[str, list[Example]] = {s: [] for s in CHORALE_SPLITS}
    left_out: dict[str, list[str]] = {"analysed": [], "an analysed tune": [], "a JSB test piece": []}
    for split in CHORALE_SPLITS:
        for piece in dataset.pieces[split]:
            voices = [tokens_to_notes(piece.tokens[:, v]) for v in range(piece.tokens.shape[1])]
            name = piece.name.removesuffix(".mxl")
            soprano, bass = (quarter_pitches(voices[v], len(piece.tokens)) for v in (0, -1))
            if name in ANALYSED_CHORALES:
                left_out["analysed"].append(name)
            elif shares_phrases(soprano, tunes):
                left_out["an analysed tune"].append(name)
            elif any(shares_phrases(soprano, [s]) and shares_phrases(bass, [b]) for s, b in pieces):
                left_out["a JSB test piece"].append(name)
            else:
                out[split].append(chorale_example(f"chorale:{split}/{name}", voices, piece.position[:, 0]))
    return out, left_out
