"""What the bridge feeds the graph's sampling, in numpy: Gumbel noise, range masks, the decode order.

The ONNX graph does the sampling itself (docs/model-contract.md, "Decoding within a step"); the
runtime only feeds it noise and a bias. Every random draw takes an explicit `np.random.Generator`:
no global RNG, so the same seed gives the same music.
"""

from __future__ import annotations

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


def decode_order_indices(contract: Contract) -> tuple[int, ...]:
    """The contract's decode order as part indices (e.g. bass, tenor, alto -> (2, 1, 0))."""
    names = contract.part_names
    return tuple(names.index(name) for name in contract.decode_order)
