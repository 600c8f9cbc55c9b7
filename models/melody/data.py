"""The answer model's data: folk melodies as 16th-note token streams, by split.

Nottingham melodies (the highest note of each frame of ../shared/data, split as published) and music21's
folk collections (models/listen/folk.py: O'Neill's, Ryan's, Essen; `airdsAirs` is refused there), split by
tune family as the recogniser's data is. Each tune is moved by whole octaves so its median sits in the
middle of the vocabulary (a stray note is folded in), then tokenised with `melody_tokens`; a split is one
stream of its tunes, a bar of rest between two, with each step's phase in the beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sideman.bridge.model.melody import MELODY_VOCAB, fold, melody_tokens, octave_shift

SPLITS = ("train", "valid", "test")
GAP = 16  # steps of rest between two tunes of a stream


@dataclass(frozen=True)
class Tune:
    name: str
    notes: np.ndarray  # [N, 3] int: start, end, pitch (in the vocabulary's range)
    phase: np.ndarray  # [T] int: 16th within the beat

    @property
    def tokens(self) -> np.ndarray:
        return melody_tokens([tuple(n) for n in self.notes.tolist()], len(self.phase))


def in_range(name: str, notes: np.ndarray, phase: np.ndarray) -> Tune:
    shift = octave_shift(notes[:, 2])
    moved = notes.copy()
    moved[:, 2] = [fold(int(p) + shift) for p in notes[:, 2]]
    return Tune(name, moved, np.asarray(phase, np.int64))


def melody_tunes(progress: bool = False) -> dict[str, list[Tune]]:
    """Every Nottingham and folk tune with a melody, by split."""
    from sideman.models.listen.data import folk_examples, nottingham_examples

    folk, _ = folk_examples(progress)
    notts = nottingham_examples()
    return {s: [in_range(e.name, e.melody, e.phase) for e in (*notts[s], *folk[s]) if len(e.melody) >= 8]
            for s in SPLITS}


def stream(tunes: list[Tune]) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, phase) of the tunes one after another, GAP steps of rest between them."""
    toks, phases = [], []
    for tune in tunes:
        toks += [tune.tokens, np.full(GAP, MELODY_VOCAB.rest, np.int64)]
        n = len(tune.phase)
        phases += [tune.phase, (tune.phase[-1] + 1 + np.arange(GAP)) % 4 if n else np.arange(GAP) % 4]
    return np.concatenate(toks), np.concatenate(phases).astype(np.int64)
