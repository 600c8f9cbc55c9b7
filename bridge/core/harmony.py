"""What the parts may play against what is heard: a logit bias from the key, the chord and the tune note.

The recogniser (bridge/listen) says, per step, how likely each pitch class belongs to the key and to the
current chord; the tune note is a fact. This turns them into one bias row per part over the model's
tokens, added to the range bias before the step is sampled:

- an onset of pitch class c costs `key * (1 - in_key[c]) + chord * (1 - in_chord[c])`, and `clash` more
  if c forms a second, a tritone or a seventh with the tune's note (a fourth counts against the bass);
- holding a note costs what striking its pitch class now would (a held note that now clashes with a new
  tune note is a clash too);
- rests cost nothing, so a part can always fall silent rather than clash.

All strengths 0 leaves the model exactly as it was. Pure numpy, no allocation per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sideman.bridge.model.contract import Vocab

CLASH_INTERVALS = (1, 2, 6, 10, 11)  # seconds, tritone, sevenths (interval classes above the tune note)
FOURTH = 5


@dataclass(frozen=True)
class HarmonyStrengths:
    """Logit costs (nats): how firmly the parts keep to the key, the chord and off the tune's clashes."""

    key: float = 0.0
    chord: float = 0.0
    clash: float = 0.0

    @property
    def active(self) -> bool:
        return self.key > 0 or self.chord > 0 or self.clash > 0


class HarmonyBias:
    """Builds the [P, V] harmony bias of a step into one reused buffer."""

    def __init__(self, vocab: Vocab, n_parts: int, strengths: HarmonyStrengths) -> None:
        self.vocab = vocab
        self.strengths = strengths
        self.n_parts = n_parts
        pitches = np.arange(vocab.pitch_min, vocab.pitch_max + 1)
        self._onset_cols = slice(vocab.onset_offset, vocab.size)
        self._onset_pc = pitches % 12  # pitch class of each onset token
        self.out = np.zeros((n_parts, vocab.size), np.float32)
        self._pc_cost = np.zeros(12, np.float32)
        self._bass_cost = np.zeros(12, np.float32)
        self._clash = np.zeros(12, bool)
        for interval in CLASH_INTERVALS:
            self._clash[interval] = True
        # Row c: the clash (and the bass's fourth) cost of each pitch class against a tune of pitch class c,
        # built once so that a step only adds a row.
        above = (np.arange(12)[None, :] - np.arange(12)[:, None]) % 12
        self._clash_rows = self._clash[above].astype(np.float32)
        self._fourth_rows = (above == FOURTH).astype(np.float32)

    def step(self, in_key: np.ndarray | None, in_chord: np.ndarray | None, tune_pitch: int | None,
             sounding: Sequence[int | None]) -> np.ndarray:
        """The bias for this step. `in_key`/`in_chord`: [12] weights up to 1 (None: unknown, no cost; an
        `in_key` below 0 costs more than the key strength, for a note no likely key holds);
        `tune_pitch`: the tune's sounding note (None: silence); `sounding[k]`: part k's held pitch or None.
        The last part is the bass."""
        s = self.strengths
        cost = self._pc_cost
        cost.fill(0.0)
        if in_key is not None and s.key > 0:
            cost += s.key * (1.0 - in_key)
        if in_chord is not None and s.chord > 0:
            cost += s.chord * (1.0 - in_chord)
        np.copyto(self._bass_cost, cost)
        if tune_pitch is not None and s.clash > 0:
            cost += s.clash * self._clash_rows[tune_pitch % 12]
            np.copyto(self._bass_cost, cost)
            self._bass_cost += s.clash * self._fourth_rows[tune_pitch % 12]
        out = self.out
        for k in range(self.n_parts):
            row = self._bass_cost if k == self.n_parts - 1 else cost
            out[k, self._onset_cols] = -row[self._onset_pc]
            held = sounding[k] if k < len(sounding) else None
            out[k, self.vocab.hold] = 0.0 if held is None else -row[held % 12]
        return out


MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor with the leading tone: both sevenths belong


def key_pitch_classes(tonic: int, minor: bool) -> np.ndarray:
    """[12] 1.0 for the pitch classes of a key, else 0.0."""
    out = np.zeros(12, np.float32)
    for degree in MINOR_SCALE if minor else MAJOR_SCALE:
        out[(tonic + degree) % 12] = 1.0
    return out
