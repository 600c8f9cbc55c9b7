"""A numpy reference of the graph's ordered decoding (docs/model-contract.md, "Decoding within a step"),
written from the contract's text, not from the network's code, so that tests can check the ONNX graph's
choices against it on the same noise. The bridge never runs it: the graph decodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (subtracts the max; -inf entries get probability 0)."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def top_p_filter(z: np.ndarray, top_p: float) -> np.ndarray:
    """Copy of the 1-D logits `z` with every token outside the top-p nucleus of softmax(z) set to -inf.

    The nucleus is the smallest set of most probable tokens whose total probability reaches
    `top_p`: a token is kept when the probability of the tokens ranked strictly above it is still
    below `top_p` (so the most probable token is always kept), and so is any token exactly as
    probable as the least probable kept one (the graph's threshold rule). top_p >= 1 keeps everything.
    """
    if not 0.0 < top_p:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_p >= 1.0:
        return z.copy()
    probs = softmax(z)
    sorted_probs = np.sort(probs)[::-1]
    mass_before = np.cumsum(sorted_probs) - sorted_probs
    least_kept = sorted_probs[mass_before < top_p].min()
    return np.where(probs >= least_kept, z, np.float32(-np.inf)).astype(z.dtype, copy=False)


def sample_row(logits: np.ndarray, temperature: float, top_p: float, bias: np.ndarray, noise: np.ndarray) -> int:
    """The contract's rule for one part: argmax(top_p((logits + bias) / temperature) + noise)."""
    if not temperature > 0.0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = (logits.astype(np.float32) + bias.astype(np.float32)) / np.float32(temperature)
    z = top_p_filter(z, top_p)
    return int(np.argmax(z + noise.astype(np.float32)))


def sample_tokens(
    logits: np.ndarray,
    temperature: float,
    top_p: float,
    bias: np.ndarray,
    noise: np.ndarray,
    order: Sequence[int],
    pair_bias: np.ndarray | None = None,
) -> np.ndarray:
    """Reference of the graph's ordered decoding, given the logits (P, V) the graph returned.

    The graph's `logits` row k is already conditioned on the tokens chosen for the parts before k
    in decode order, so each row can be decoded on its own once the rows `pair_bias[q, k, token_q]`
    of the parts q decoded before it are added to its bias; `order` (part indices, first decoded
    first) fixes that order, mirroring the graph. Returns int64 (P,).
    """
    n_parts = logits.shape[0]
    if sorted(order) != list(range(n_parts)):
        raise ValueError(f"order {list(order)} is not a permutation of the {n_parts} parts")
    tokens = np.empty(n_parts, dtype=np.int64)
    for rank, k in enumerate(order):
        row_bias = bias[k].astype(np.float32)
        if pair_bias is not None:
            for q in order[:rank]:
                row_bias = row_bias + pair_bias[q, k, tokens[q]]
        tokens[k] = sample_row(logits[k], temperature, top_p, row_bias, noise[k])
    return tokens
