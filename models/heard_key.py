"""The key the engine has heard before each step of a lead line: the online network's key input.

The bridge's key tracker (bridge/core/key_tracker.py, the profile listener's) run causally over the lead's
onsets, step by step as the engine hears the player. Row t is its belief before step t (uniform at step 0),
so the input never holds the note the step answers, which may still be `unknown` live.
"""

from __future__ import annotations

import numpy as np

from sideman.bridge.core.key_tracker import KeyTracker
from sideman.bridge.listen.names import N_KEYS
from sideman.bridge.model.contract import Vocab

UNHEARD = np.full(N_KEYS, 1.0 / N_KEYS, np.float32)  # the input before anything is heard, and with no ears


def heard_keys(lead: np.ndarray, step_in_beat: np.ndarray, vocab: Vocab = Vocab()) -> np.ndarray:
    """lead tokens [T] and each step's place in its beat [T] -> [T, 24] key probabilities before each step."""
    tracker = KeyTracker()
    out = np.empty((len(lead), N_KEYS), np.float32)
    for t, token in enumerate(lead):
        out[t] = tracker.probs
        tracker.step((vocab.pitch(int(token)),) if vocab.is_onset(int(token)) else (), int(step_in_beat[t]) == 0)
    return out


def piece_keys(pieces: list, vocab: Vocab = Vocab()) -> list[np.ndarray]:
    """heard_keys of each piece's lead (tokens[:, 0]) on its own grid."""
    return [heard_keys(p.tokens[:, 0], p.position[:, 0], vocab) for p in pieces]
