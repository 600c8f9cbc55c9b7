"""Parallel fifths and octaves, forbidden at decoding time (numpy; the live engine and `evaluate` share it).

The network learned Bach's style but not his strictest rule: sampled freely it moves two voices in
parallel fifths or octaves ~2 times per 100 steps, where Bach does so ~0.03 times (models/default/
README.md). Rather than hope a loss term teaches a hard rule, the decoder enforces it, the way a
human arranger would: the network proposes, and moves that would form a parallel are given the
contract's "forbidden" logit before sampling.

Two voices form a parallel between steps t-1 and t (the same rule as `models/metrics.parallels`) when
both sound at t-1 and at t, both change pitch, in the same direction, and their interval (mod 12) is a
perfect fifth at both steps, or a unison/octave at both. A hold, a re-struck pitch or a rest never
forms one, so every part always keeps at least `rest` and `hold`.

- Against the lead, the lead's move is known before the parts are decoded (when the lead at t is
  known at all), so the guard is a (P, V) addition to the graph's `logit_bias`.
- Between parts, the move of a part decoded earlier in the same step is chosen inside the graph, so
  the guard is the graph's `pair_bias` input (P, P, V, V): row `pair_bias[q, k, a]` is added to part
  k's logits when part q, decoded before k, chose token a (docs/model-contract.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sideman.bridge.model.contract import Vocab
from sideman.bridge.model.sampling import FORBIDDEN

PERFECT = (0, 7)  # interval classes (mod 12) that may not move in parallel: unison/octave, fifth
NO_PITCH = -1


def token_pitches(vocab: Vocab) -> np.ndarray:
    """(V,) int64: the MIDI pitch of each onset token, NO_PITCH for rest / hold / unknown."""
    pitches = np.full(vocab.size, NO_PITCH, np.int64)
    pitches[vocab.onset_offset:] = np.arange(vocab.pitch_min, vocab.pitch_max + 1)
    return pitches


def next_pitch(prev: int, token: int, vocab: Vocab) -> int:
    """The pitch a voice sounds after `token`, given the pitch it sounded before (NO_PITCH for none)."""
    if vocab.is_onset(token):
        return vocab.pitch(token)
    return prev if token == vocab.hold else NO_PITCH


def _interval_class(a: int | np.ndarray, b: int | np.ndarray) -> int | np.ndarray:
    return np.abs(np.asarray(a) - np.asarray(b)) % 12


class ParallelGuard:
    """Builds the lead bias and the pair bias that forbid parallel fifths/octaves at one step."""

    def __init__(self, vocab: Vocab, n_parts: int, decode_order: Sequence[int],
                 pair_bias: np.ndarray | None = None) -> None:
        """`pair_bias`: the (P, P, V, V) float32 buffer to write in place (a model's bound input);
        by default the guard owns one."""
        self.vocab = vocab
        self.n_parts = n_parts
        self.decode_order = tuple(decode_order)
        self._pitch = token_pitches(vocab)
        self._onset = self._pitch != NO_PITCH
        v = vocab.size
        shape = (n_parts, n_parts, v, v)
        if pair_bias is None:
            pair_bias = np.zeros(shape, np.float32)
        elif pair_bias.shape != shape or pair_bias.dtype != np.float32:
            raise ValueError(f"pair_bias is {pair_bias.shape} {pair_bias.dtype}, expected {shape} float32")
        pair_bias.fill(0.0)
        self.pair_bias = pair_bias  # written in place each step
        self._dirty: list[tuple[int, int]] = []  # (q, k) blocks of pair_bias that are not all zero
        # Table per (prev_q, prev_k): at most ~49 x 8 pitch pairs stand a fifth/octave apart, so the
        # cache is bounded (a few MB at most) and the live loop stops allocating once it is warm.
        self._tables: dict[tuple[int, int], np.ndarray] = {}
        self.lead_bias = np.zeros((n_parts, v), np.float32)

    def forbidden_against(self, prev_other: int, new_other: int, prev_self: int) -> np.ndarray | None:
        """(V,) bool: tokens of this voice that form a parallel with another voice moving
        prev_other -> new_other, this voice having sounded prev_self. None if no token does."""
        if min(prev_other, new_other, prev_self) < 0 or new_other == prev_other:
            return None
        ic = int(_interval_class(prev_other, prev_self))
        if ic not in PERFECT:
            return None
        p = self._pitch
        same_way = np.sign(p - prev_self) == np.sign(new_other - prev_other)
        return self._onset & (p != prev_self) & same_way & (_interval_class(new_other, p) == ic)

    def _pair_table(self, prev_q: int, prev_k: int) -> np.ndarray:
        """(V, V) additive bias for part k's tokens (columns) given part q's token (rows)."""
        table = self._tables.get((prev_q, prev_k))
        if table is None:
            p = self._pitch
            ic = int(_interval_class(prev_q, prev_k))
            moves_q = self._onset & (p != prev_q)
            moves_k = self._onset & (p != prev_k)
            same_way = np.sign(p[:, None] - prev_q) == np.sign(p[None, :] - prev_k)
            same_ic = _interval_class(p[:, None], p[None, :]) == ic
            bad = moves_q[:, None] & moves_k[None, :] & same_way & same_ic
            table = np.where(bad, FORBIDDEN, np.float32(0.0)).astype(np.float32)
            self._tables[(prev_q, prev_k)] = table
        return table

    def update_pairs(self, prev_parts: np.ndarray) -> None:
        """Fill `pair_bias` for the step after the parts sounded `prev_parts` (pitches, NO_PITCH = silent)."""
        for q, k in self._dirty:
            self.pair_bias[q, k].fill(0.0)
        self._dirty.clear()
        order = self.decode_order
        for rank, q in enumerate(order):
            for k in order[rank + 1:]:
                a, b = int(prev_parts[q]), int(prev_parts[k])
                if a >= 0 and b >= 0 and abs(a - b) % 12 in PERFECT:
                    self.pair_bias[q, k] = self._pair_table(a, b)
                    self._dirty.append((q, k))

    def update_lead(self, prev_parts: np.ndarray, prev_lead: int, lead_now: int) -> bool:
        """Fill `lead_bias` for a lead moving prev_lead -> lead_now (pitches; the same pitch = it holds)
        after the parts sounded `prev_parts`. Returns whether any token is forbidden (else it is all 0)."""
        self.lead_bias.fill(0.0)
        any_banned = False
        for k in range(self.n_parts):
            bad = self.forbidden_against(prev_lead, lead_now, int(prev_parts[k]))
            if bad is not None and bad.any():
                self.lead_bias[k, bad] = FORBIDDEN
                any_banned = True
        return any_banned
