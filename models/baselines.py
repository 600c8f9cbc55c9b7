"""Count-based baselines over the same part tokens (numpy only): unigram and a backed-off bigram.

Both give a proper distribution over the part's allowed tokens (rest, hold, onsets in its range), so
their NLL compares directly with the network's (which never gives mass to other tokens either).

- `Unigram`: P(token) per part, add-one (Laplace) smoothed.
- `NGram`: P(token_t | token_{t-1}, lead class at t: onset pitch class / rest / hold / unknown) interpolated (Jelinek-Mercer) with
  P(token_t | token_{t-1}) and the unigram: p = l3*p3 + l2*p2 + l1*p1, where p3, p2 are maximum-likelihood
  estimates (left out when their context was never seen, the weight moving down) and p1 is the add-one unigram.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from sideman.bridge.model.contract import Vocab, Voice

# Lead context classes: the pitch class of a lead onset (0..11), then rest, hold, and none (unknown).
# A hold is its own class (not the held pitch class): it says "the melody does not move now", which is
# what best predicts whether the parts move.
N_LEAD_CLASSES = 15
LEAD_REST, LEAD_HOLD, LEAD_NONE = 12, 13, 14


def allowed_tokens(voice: Voice, vocab: Vocab = Vocab()) -> np.ndarray:
    mask = np.zeros(vocab.size, dtype=bool)
    mask[[vocab.rest, vocab.hold]] = True
    mask[vocab.onset(voice.low) : vocab.onset(voice.high) + 1] = True
    return mask


def lead_classes(lead_tokens: np.ndarray, vocab: Vocab = Vocab()) -> np.ndarray:
    """[T] lead tokens -> [T] context class: onset pitch class, LEAD_REST, LEAD_HOLD or LEAD_NONE."""
    tokens = np.asarray(lead_tokens, dtype=np.int64)
    out = np.full(len(tokens), LEAD_NONE, dtype=np.int64)
    onset = (tokens >= vocab.onset_offset) & (tokens < vocab.size)
    out[onset] = (tokens[onset] - vocab.onset_offset + vocab.pitch_min) % 12
    out[tokens == vocab.rest] = LEAD_REST
    out[tokens == vocab.hold] = LEAD_HOLD
    return out


def _prev(tokens: np.ndarray, vocab: Vocab) -> np.ndarray:
    return np.concatenate([[vocab.rest], tokens[:-1]])


@dataclass
class Unigram:
    """Per-part add-one smoothed unigram over the part's allowed tokens."""

    voices: Sequence[Voice]
    vocab: Vocab = Vocab()

    def fit(self, pieces: Sequence[np.ndarray]) -> "Unigram":
        """pieces: [T, 1 + P] tokens (lead, then parts)."""
        V = self.vocab.size
        self.allowed = np.stack([allowed_tokens(v, self.vocab) for v in self.voices])  # [P,V]
        counts = np.zeros((len(self.voices), V))
        for tok in pieces:
            for k in range(len(self.voices)):
                counts[k] += np.bincount(tok[:, 1 + k], minlength=V)[:V]
        counts = (counts + 1.0) * self.allowed
        self.prob = counts / counts.sum(axis=1, keepdims=True)
        return self

    def log_probs(self, tokens: np.ndarray) -> np.ndarray:
        """[T, 1 + P] tokens -> [T, P, V] log-probabilities of each part's token at each step."""
        with np.errstate(divide="ignore"):
            lp = np.log(self.prob)
        return np.broadcast_to(lp, (len(tokens), *lp.shape)).copy()


@dataclass
class NGram:
    """P(token | prev token, lead pitch class), interpolated with P(token | prev token) and the unigram."""

    voices: Sequence[Voice]
    vocab: Vocab = Vocab()
    weights: tuple[float, float, float] = (0.6, 0.3, 0.1)  # lead+prev context, prev context, unigram

    def fit(self, pieces: Sequence[np.ndarray]) -> "NGram":
        V, P = self.vocab.size, len(self.voices)
        self.unigram = Unigram(self.voices, self.vocab).fit(pieces)
        self.c3 = np.zeros((P, V, N_LEAD_CLASSES, V))
        self.c2 = np.zeros((P, V, V))
        for tok in pieces:
            lc = lead_classes(tok[:, 0], self.vocab)
            for k in range(P):
                cur = tok[:, 1 + k]
                prev = _prev(cur, self.vocab)
                np.add.at(self.c3[k], (prev, lc, cur), 1.0)
                np.add.at(self.c2[k], (prev, cur), 1.0)
        return self

    def log_probs(self, tokens: np.ndarray, lead_known: bool = True) -> np.ndarray:
        """[T, 1 + P] tokens -> [T, P, V] log-probabilities (previous part tokens are the true ones)."""
        T, P = len(tokens), len(self.voices)
        lc = lead_classes(tokens[:, 0], self.vocab) if lead_known else np.full(T, LEAD_NONE)
        l3, l2, l1 = self.weights
        out = np.empty((T, P, self.vocab.size))
        for k in range(P):
            prev = _prev(tokens[:, 1 + k], self.vocab)
            c3 = self.c3[k][prev, lc]  # [T,V]
            c2 = self.c2[k][prev]
            n3, n2 = c3.sum(-1, keepdims=True), c2.sum(-1, keepdims=True)
            w3 = np.where(n3 > 0, l3, 0.0)
            w2 = np.where(n2 > 0, l2, 0.0)
            w1 = 1.0 - w3 - w2  # unseen contexts hand their weight down to the unigram
            p = (w3 * c3 / np.maximum(n3, 1) + w2 * c2 / np.maximum(n2, 1)
                 + w1 * self.unigram.prob[k][None])
            with np.errstate(divide="ignore"):
                out[:, k] = np.log(p)
        return out


def nll_and_accuracy(log_probs: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Summed NLL per part, correct argmax count per part, and number of steps for one piece."""
    P = log_probs.shape[1]
    target = tokens[:, 1 : 1 + P]
    picked = np.take_along_axis(log_probs, target[..., None], axis=-1)[..., 0]
    return -picked.sum(axis=0), (log_probs.argmax(-1) == target).sum(axis=0), len(tokens)


def tune_weights(model: NGram, pieces: Sequence[np.ndarray],
                 grid: Sequence[tuple[float, float, float]] | None = None) -> tuple[float, float, float]:
    """Choose the interpolation weights with the lowest NLL on held-out pieces (e.g. valid)."""
    if grid is None:
        highs = [round(a, 2) for a in np.arange(0.1, 0.95, 0.1)] + [0.95, 0.98, 0.99]
        grid = [(a, round(b, 2), round(1 - a - b, 3)) for a in highs for b in np.arange(0.0, 0.9, 0.1)
                if 1 - a - b > 0.005]
    best, best_w = np.inf, model.weights
    for w in grid:
        model.weights = tuple(float(x) for x in w)  # type: ignore[assignment]
        total = sum(nll_and_accuracy(model.log_probs(t), t)[0].sum() for t in pieces)
        if total < best:
            best, best_w = total, model.weights
    model.weights = best_w
    return best_w
