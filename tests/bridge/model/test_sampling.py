"""bridge/model/sampling.py: Gumbel noise, range bias, and the numpy reference of the graph's decoding."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.model.contract import Contract, StateSpec, Voice
from sideman.bridge.model.sampling import (
    FORBIDDEN,
    decode_order_indices,
    gumbel_noise,
    range_bias,
    sample_row,
    sample_tokens,
    softmax,
    top_p_filter,
)

CONTRACT = Contract(
    name="t",
    lead=Voice("soprano", 60, 81),
    parts=(Voice("alto", 53, 74, 2), Voice("tenor", 48, 69, 3), Voice("bass", 36, 64, 4)),
    state=(StateSpec("state", "state_out", (1, 1, 8)),),
)


def test_gumbel_noise_is_seeded_and_fills_in_place() -> None:
    a = gumbel_noise(np.random.default_rng(7), (3, 52))
    out = np.empty((3, 52), np.float32)
    b = gumbel_noise(np.random.default_rng(7), (3, 52), out=out)
    assert b is out
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, gumbel_noise(np.random.default_rng(8), (3, 52)))
    assert np.isfinite(a).all()


def test_gumbel_noise_rejects_a_wrong_buffer() -> None:
    with pytest.raises(ValueError):
        gumbel_noise(np.random.default_rng(0), (3, 52), out=np.empty((3, 51), np.float32))
    with pytest.raises(ValueError):
        gumbel_noise(np.random.default_rng(0), (3, 52), out=np.empty((3, 52), np.float64))


def test_gumbel_noise_has_the_gumbel_mean_and_variance() -> None:
    x = gumbel_noise(np.random.default_rng(0), (200_000,)).astype(np.float64)
    assert abs(x.mean() - np.euler_gamma) < 0.01
    assert abs(x.var() - np.pi**2 / 6) < 0.03


def test_gumbel_max_samples_the_softmax() -> None:
    rng = np.random.default_rng(1)
    logits = np.array([2.0, 1.0, 0.0, -1.0], np.float32)
    counts = np.zeros(4)
    for _ in range(20_000):
        counts[sample_row(logits, 1.0, 1.0, np.zeros(4, np.float32), gumbel_noise(rng, (4,)))] += 1
    np.testing.assert_allclose(counts / counts.sum(), softmax(logits.astype(np.float64)), atol=0.012)


def test_range_bias_forbids_unknown_and_out_of_range_onsets() -> None:
    bias = range_bias(CONTRACT)
    vocab = CONTRACT.vocab
    assert bias.shape == (3, vocab.size) and bias.dtype == np.float32
    for k, part in enumerate(CONTRACT.parts):
        assert bias[k, vocab.rest] == 0 and bias[k, vocab.hold] == 0
        assert bias[k, vocab.unknown] == FORBIDDEN
        for pitch in range(vocab.pitch_min, vocab.pitch_max + 1):
            expected = 0 if part.low <= pitch <= part.high else FORBIDDEN
            assert bias[k, vocab.onset(pitch)] == expected, (part.name, pitch)


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
    bias = range_bias(CONTRACT)
    tokens = sample_tokens(logits, 0.8, 0.9, bias, noise, decode_order_indices(CONTRACT))
    assert tokens.dtype == np.int64
    assert tokens.tolist() == [sample_row(logits[k], 0.8, 0.9, bias[k], noise[k]) for k in range(3)]
    assert (bias[np.arange(3), tokens] == 0).all()
    assert decode_order_indices(CONTRACT) == (2, 1, 0)
    with pytest.raises(ValueError):
        sample_tokens(logits, 1.0, 1.0, bias, noise, (0, 1))
