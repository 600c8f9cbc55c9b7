"""Unigram and backed-off n-gram baselines on a tiny hand-made corpus with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.model.contract import Vocab, Voice
from sideman.models.baselines import (LEAD_HOLD, LEAD_NONE, LEAD_REST, NGram, Unigram, allowed_tokens, lead_classes,
                              nll_and_accuracy, tune_weights)

V = Vocab()
R, H = V.rest, V.hold
PARTS = (Voice("alto", 60, 62),)  # one part, range C4..D4: allowed tokens rest, hold, C4, C#4, D4 (5 tokens)
C, D = V.onset(60), V.onset(62)


def piece(lead: list[int], alto: list[int]) -> np.ndarray:
    return np.array([lead, alto], dtype=np.int64).T


CORPUS = [
    piece([V.onset(72), H, V.onset(74), H], [C, H, D, H]),
    piece([V.onset(72), H, V.onset(74), H], [C, H, D, H]),
]


def test_allowed_tokens():
    mask = allowed_tokens(PARTS[0])
    assert mask.sum() == 5 and mask[R] and mask[H] and mask[C] and mask[D] and not mask[V.unknown]


def test_unigram_is_add_one_smoothed_over_allowed_tokens():
    uni = Unigram(PARTS).fit(CORPUS)
    p = uni.prob[0]
    # counts: C 2, D 2, hold 4, rest 0, C# 0 -> +1 each over 5 allowed tokens: total 8 + 5 = 13
    assert p[C] == pytest.approx(3 / 13) and p[H] == pytest.approx(5 / 13) and p[R] == pytest.approx(1 / 13)
    assert p.sum() == pytest.approx(1.0)
    assert p[V.onset(64)] == 0.0


def test_lead_classes():
    lead = np.array([V.onset(72), H, R, H, V.onset(74), V.unknown, V.onset(61)])
    assert lead_classes(lead).tolist() == [0, LEAD_HOLD, LEAD_REST, LEAD_HOLD, 2, LEAD_NONE, 1]


def test_ngram_known_answers():
    ng = NGram(PARTS, weights=(0.6, 0.3, 0.1)).fit(CORPUS)
    uni = ng.unigram.prob[0]
    lp = ng.log_probs(CORPUS[0])
    # transitions (prev alto, lead class, alto) in each piece: (R,C,C) (C,hold,H) (H,D,D) (D,hold,H)
    # step 2: prev = hold with lead class D was always followed by D (p3 = 1), and so was hold alone (p2 = 1)
    assert np.exp(lp[2, 0, D]) == pytest.approx(0.6 + 0.3 + 0.1 * uni[D])
    # step 0: prev = rest (start), lead class C (0): always followed by C
    assert np.exp(lp[0, 0, C]) == pytest.approx(0.6 + 0.3 + 0.1 * uni[C])
    # every step is a proper distribution over the allowed tokens
    probs = np.exp(lp[:, 0])
    assert np.allclose(probs.sum(-1), 1.0)
    assert (probs[:, ~allowed_tokens(PARTS[0])] == 0).all()


def test_ngram_backs_off_for_unseen_contexts():
    ng = NGram(PARTS, weights=(0.6, 0.3, 0.1)).fit(CORPUS)
    uni = ng.unigram.prob[0]
    # lead pitch class E (unseen) after a rest: the lead context is unseen, the prev (rest) context was
    # seen twice (both followed by C): p = (0.3 * 1 + 0.7 * uni) for C
    unseen = piece([V.onset(76)], [C])
    p = np.exp(ng.log_probs(unseen)[0, 0])
    assert p[C] == pytest.approx(0.3 + 0.7 * uni[C])
    assert p.sum() == pytest.approx(1.0)
    # prev token C# was never seen at all: pure unigram
    unseen2 = piece([V.onset(72), V.onset(72)], [V.onset(61), C])
    p = np.exp(ng.log_probs(unseen2)[1, 0])
    assert np.allclose(p, uni)


def test_lead_unknown_uses_the_none_class():
    ng = NGram(PARTS).fit(CORPUS)
    known = ng.log_probs(CORPUS[0], lead_known=True)
    unknown = ng.log_probs(CORPUS[0], lead_known=False)
    assert not np.allclose(known, unknown)
    assert np.allclose(np.exp(unknown).sum(-1), 1.0)


def test_nll_and_accuracy_and_tuning():
    ng = NGram(PARTS).fit(CORPUS)
    nll, correct, n = nll_and_accuracy(ng.log_probs(CORPUS[0]), CORPUS[0])
    assert n == 4 and correct.tolist() == [4]
    assert 0 < nll[0] < 4 * np.log(5)
    uni_nll, _, _ = nll_and_accuracy(Unigram(PARTS).fit(CORPUS).log_probs(CORPUS[0]), CORPUS[0])
    assert nll[0] < uni_nll[0]  # context helps on a perfectly predictable corpus
    w = tune_weights(ng, CORPUS, grid=[(0.1, 0.1, 0.8), (0.8, 0.1, 0.1)])
    assert w == (0.8, 0.1, 0.1)
