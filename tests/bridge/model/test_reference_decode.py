"""tests/bridge/model/reference_decode.py: the numpy reference the graph's decoding is checked against."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.model.sampling import FORBIDDEN, gumbel_noise
from tests.bridge.model.reference_decode import sample_row, sample_tokens, top_p_filter


def test_top_p_keeps_the_smallest_nucleus() -> None:
    z = np.log(np.array([0.5, 0.3, 0.15, 0.05], np.float32))
    assert np.isfinite(top_p_filter(z, 1.0)).all()
    assert np.isfinite(top_p_filter(z, 0.75)).tolist() == [True, True, False, False]  # mass above: 0, .5, .8, .95
    assert np.isfinite(top_p_filter(z, 0.85)).tolist() == [True, True, True, False]
    assert np.isfinite(top_p_filter(z, 0.01)).tolist() == [True, False, False, False]  # best always kept
    assert np.isfinite(top_p_filter(z[::-1].copy(), 0.6)).tolist() == [False, False, True, True]
    with pytest.raises(ValueError):
        top_p_filter(z, 0.0)


def test_sample_row_zero_noise_is_greedy_and_respects_bias() -> None:
    logits = np.array([0.0, 3.0, 1.0, 2.0], np.float32)
    zeros = np.zeros(4, np.float32)
    assert sample_row(logits, 1.0, 1.0, zeros, zeros) == 1
    assert sample_row(logits, 0.5, 0.3, zeros, zeros) == 1
    bias = np.array([0, FORBIDDEN, 0, 0], np.float32)
    assert sample_row(logits, 1.0, 1.0, bias, zeros) == 3
    # Noise can pick a token only inside the nucleus: top-p 0.5 leaves token 1 alone.
    big = np.array([0.0, 0.0, 0.0, 50.0], np.float32)
    assert sample_row(logits * 10, 1.0, 0.5, zeros, big) == 1
    assert sample_row(logits * 10, 1.0, 1.0, zeros, big) == 3
    with pytest.raises(ValueError):
        sample_row(logits, 0.0, 1.0, zeros, zeros)


def test_temperature_flattens_the_distribution() -> None:
    rng = np.random.default_rng(3)
    logits = np.array([2.0, 0.0], np.float32)
    zeros = np.zeros(2, np.float32)

    def share_of_best(temperature: float) -> float:
        picks = [sample_row(logits, temperature, 1.0, zeros, gumbel_noise(rng, (2,))) for _ in range(4000)]
        return picks.count(0) / len(picks)

    assert share_of_best(0.5) > share_of_best(1.0) > share_of_best(4.0) > 0.5


def test_sample_tokens_decodes_each_part_and_checks_the_order() -> None:
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(3, 52)).astype(np.float32)
    noise = gumbel_noise(rng, (3, 52))
    bias = np.where(rng.random((3, 52)) < 0.5, FORBIDDEN, np.float32(0))
    tokens = sample_tokens(logits, 0.8, 0.9, bias, noise, (2, 1, 0))
    assert tokens.dtype == np.int64
    assert tokens.tolist() == [sample_row(logits[k], 0.8, 0.9, bias[k], noise[k]) for k in range(3)]
    assert (bias[np.arange(3), tokens] == 0).all()
    with pytest.raises(ValueError):
        sample_tokens(logits, 1.0, 1.0, bias, noise, (0, 1))
