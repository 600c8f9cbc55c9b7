"""Batches of the chorale grids as the networks read them (numpy; the models are called, never imported):
previous-step inputs, whole padded pieces for teacher-forced scoring, and the whole tunes the offline
teacher reads. Shared by training (models/train.py) and distillation (models/distill.py).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sideman.bridge.model.contract import Vocab

IGNORE = -100  # target of padded steps


def piece_arrays(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[T,4] tokens -> (inputs_prev [T,4] = tokens at t-1 with rests before the start, same shape)."""
    prev = np.empty_like(tokens)
    prev[0] = Vocab().rest
    prev[1:] = tokens[:-1]
    return prev, tokens


def tune_arrays(pieces: Sequence[Any], vocab: Vocab = Vocab()) -> dict[str, np.ndarray]:
    """The whole tunes the offline teacher reads: melody [B,T], melody_position [B,T,2], lengths [B]."""
    T = max(len(p.tokens) for p in pieces)
    melody = np.full((len(pieces), T), vocab.rest, dtype=np.int64)
    pos = np.zeros((len(pieces), T, 2), dtype=np.int64)
    for b, p in enumerate(pieces):
        melody[b, : len(p.tokens)], pos[b, : len(p.tokens)] = p.tokens[:, 0], p.position
    return {"melody": melody, "melody_position": pos, "lengths": np.array([len(p.tokens) for p in pieces])}


def full_batch(pieces: Sequence[Any], lead_unknown: bool = False, vocab: Vocab = Vocab(), keys: bool = False
               ) -> dict[str, np.ndarray]:
    """Whole pieces, padded to the longest, for teacher-forced scoring (state from zero at step 0); with
    `keys`, also the key heard before each step (networks with a key input, models/heard_key.py)."""
    T = max(len(p.tokens) for p in pieces)
    B = len(pieces)
    out = {k: np.full((B, T), vocab.rest, dtype=np.int64) for k in ("lead", "prev_lead")}
    out["prev_parts"] = np.full((B, T, 3), vocab.rest, dtype=np.int64)
    out["position"] = np.zeros((B, T, 2), dtype=np.int64)
    out["target"] = np.full((B, T, 3), IGNORE, dtype=np.int64)
    for b, p in enumerate(pieces):
        n = len(p.tokens)
        pv, cur = piece_arrays(p.tokens)
        out["lead"][b, :n] = vocab.unknown if lead_unknown else cur[:, 0]
        out["prev_lead"][b, :n], out["prev_parts"][b, :n] = pv[:, 0], pv[:, 1:]
        out["position"][b, :n], out["target"][b, :n] = p.position, cur[:, 1:]
    out["parts_now"] = np.where(out["target"] == IGNORE, vocab.rest, out["target"])
    if keys:
        from sideman.models.heard_key import UNHEARD, piece_keys

        out["key"] = np.broadcast_to(UNHEARD, (B, T, len(UNHEARD))).copy()
        for b, k in enumerate(piece_keys(list(pieces), vocab)):
            out["key"][b, : len(k)] = k
    out.update(tune_arrays(pieces), start=np.zeros(B, dtype=np.int64))  # for the offline teacher
    return out


def forward_batch(model: Any, b: dict[str, Any], offline: bool) -> Any:
    """Teacher-forced logits [B,T,P,V]; the offline teacher also reads the whole tune, a network with a key
    input the batch's heard keys."""
    keys = ("melody", "melody_position", "lengths", "start")
    tune = {k: b[k] for k in keys} if offline else {}
    if getattr(model, "module", model).cfg.key_input:  # under DistributedDataParallel the network is .module
        tune["key"] = b["key"]
    logits, _ = model(b["lead"], b["prev_lead"], b["prev_parts"], b["position"], b["parts_now"], **tune)
    return logits
