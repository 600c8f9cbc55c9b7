"""A causal key estimate that can change its mind: a hidden Markov model over the 24 keys, filtered note by note.

Each key says how likely every pitch class is in a tune in that key (Temperley's key profiles, from the
Kostka-Payne corpus, each scaled to sum to one); every struck note multiplies each key's probability by
how likely that key makes the note. At every beat the key may have changed: a share `change` of the
belief is spread evenly over all keys. That floor is what lets a new key win within a few beats of its
notes however long the old one lasted, where a running histogram of everything heard keeps the old key
for bars.

State: 24 log-probabilities, fixed in size, updated in place (no allocation per step).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from sideman.bridge.listen.names import N_KEYS

# Temperley (2007), the Kostka-Payne profiles: the chance that a pitch class occurs in a passage of the key,
# tonic first. Sharper than Krumhansl's ratings, so a few notes outside a key weigh against it.
MAJOR_PROFILE = np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400])
MINOR_PROFILE = np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330])
KEY_CHANGE = 0.01  # per beat: the chance the key moves; chosen on validation tunes (docs/accompaniment.md)


def _log_emissions() -> np.ndarray:
    """[24, 12] log-probability of each pitch class under each key class (mode * 12 + tonic)."""
    rows = [np.roll(profile / profile.sum(), tonic) for profile in (MAJOR_PROFILE, MINOR_PROFILE) for tonic in range(12)]
    return np.log(np.stack(rows)).astype(np.float32)


LOG_EMISSIONS = _log_emissions()


class KeyTracker:
    """The probability of each key class given the notes struck so far, one step at a time."""

    def __init__(self, change: float = KEY_CHANGE) -> None:
        self.change = change
        self.probs = np.full(N_KEYS, 1.0 / N_KEYS, np.float32)
        self._log = np.zeros(N_KEYS, np.float32)
        self.heard = False

    def reset(self) -> None:
        self.probs.fill(1.0 / N_KEYS)
        self._log.fill(0.0)
        self.heard = False

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, bool]:
        return self.probs.copy(), self._log.copy(), self.heard

    def restore(self, snapshot: tuple[np.ndarray, np.ndarray, bool]) -> None:
        probs, log, self.heard = snapshot
        self.probs[...] = probs
        self._log[...] = log

    def step(self, onsets: Collection[int], beat_starts: bool) -> None:
        """Hear one step: the notes struck in it, and whether a beat starts with it."""
        if beat_starts and self.heard:
            # The key may have moved since the last beat: keep 1 - change of the belief, spread the rest evenly.
            self.probs *= 1.0 - self.change
            self.probs += self.change / N_KEYS
            np.log(self.probs, out=self._log)
        if not onsets:
            return
        for pitch in onsets:
            self._log += LOG_EMISSIONS[:, pitch % 12]
        self._log -= self._log.max()  # keeps the exponentials in range
        np.exp(self._log, out=self.probs)
        self.probs /= self.probs.sum()
        self.heard = True
