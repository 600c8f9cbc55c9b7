"""bridge/model/sampling.py: Gumbel noise, range bias and decode order, what the bridge feeds the graph."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.model.contract import Contract, StateSpec, Voice
from sideman.bridge.model.sampling import FORBIDDEN, decode_order_indices, gumbel_noise, range_bias
from tests.bridge.model.reference_decode import sample_row, softmax

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


def test_decode_order_indices_name_parts_by_index() -> None:
    assert decode_order_indices(CONTRACT) == (2, 1, 0)
