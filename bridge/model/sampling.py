"""Sampling helpers in numpy: Gumbel noise, range masks, and a reference of the in-graph decoding.

The ONNX graph does the sampling itself (docs/model-contract.md, "Decoding within a step"); the
runtime only feeds it noise and a bias. `sample_tokens` re-does the graph's per-part rule in numpy
so tests can check the graph against it on the same noise. Every random draw takes an explicit
`np.random.Generator`: no global RNG, so the same seed gives the same music.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sideman.bridge.model.contract import Contract

FORBIDDEN = np.float32(-1e9)  # the contract's "forbidden" logit bias
_TINY = np.finfo(np.float32).tiny


def gumbel_noise(rng: np.random.Generator, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """Standard Gumbel noise `-log(-log(u))`, u ~ U(0, 1), as float32; fills `out` in place if given.

    Works in place so the live loop can refill one preallocated buffer per step without allocating.
    """
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != tuple(shape) or out.dtype != np.float32:
        raise ValueError(f"out has shape {out.shape} / {out.dtype}, expected {tuple(shape)} / float32")
    rng.random(out=out, dtype=np.float32)
    np.maximum(out, _TINY, out=out)  # u == 0 would give -inf noise, a token that can never win
    np.log(out, out=out)
    np.negative(out, out=out)
    np.log(out, out=out)
    np.negative(out, out=out)
    return out


def range_bias(contract: Contract) -> np.ndarray:
    """Logit bias (P, V): 0 where allowed, -1e9 for onsets outside each part's range and for `unknown`.

    `unknown` is a lead-input token only; a part must never produce it.
    """
    vocab = contract.vocab
    bias = np.zeros((len(contract.parts), vocab.size), dtype=np.float32)
    for k, part in enumerate(contract.parts):
        for pitch in range(vocab.pitch_min, vocab.pitch_max + 1):
            if not part.low <= pitch <= part.high:
                bias[k, vocab.onset(pitch)] = FORBIDDEN
        bias[k, vocab.unknown] = FORBIDDEN
    return bias


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


def decode_order_indices(contract: Contract) -> tuple[int, ...]:
    """The contract's decode order as part indices (e.g. bass, tenor, alto -> (2, 1, 0))."""
    names = contract.part_names
    return tuple(names.index(name) for name in contract.decode_order)
