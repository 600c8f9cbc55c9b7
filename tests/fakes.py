"""A deterministic stand-in for the ONNX step model, with outputs you can work out by hand.

FakeStepModel answers a lead onset of pitch p with
    alto  = p - 3 (a minor third below), tenor = p - 8 (a minor sixth below), each folded by octaves into its range,
    bass  = 36 + p % 12 (the lead's pitch class in the bass's lowest octave),
a lead hold with holds (but it strikes the onset's voicing if the lead began at t-1 and the parts
did not all strike then: a note it only learnt of afterwards), an `unknown` lead with holds if the lead was sounding at t-1 and rests if not.
With `hold_threshold` set, a part whose Gumbel noise[k, 0] exceeds it holds instead of striking a new
note (so the seed matters). Its state is the number of steps since reset, so a re-answer that forgot
to restore shows up as a wrong count. `fail_at` / `bad_at` make given calls (0-based, over the life of
the object) raise or return an out-of-range token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sideman.bridge.model.contract import Contract, StateSpec, Vocab, Voice
from sideman.bridge.model.melody import MELODY_VOCAB

FAKE_CONTRACT = Contract(
    name="fake",
    lead=Voice("soprano", 60, 81),
    parts=(Voice("alto", 53, 74, channel=2), Voice("tenor", 48, 69, channel=3), Voice("bass", 36, 64, channel=4)),
    state=(StateSpec("state", "state_out", (1, 1, 1)),),
)


def fold(pitch: int, low: int, high: int) -> int:
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


def fake_voicing(lead_pitch: int) -> tuple[int, int, int]:
    """The parts FakeStepModel strikes under a lead onset (alto, tenor, bass)."""
    return fold(lead_pitch - 3, 53, 74), fold(lead_pitch - 8, 48, 69), 36 + lead_pitch % 12


class FakeStepModel:
    def __init__(self, hold_threshold: float | None = None, fail_at: set[int] | None = None,
                 bad_at: set[int] | None = None, contract: Contract = FAKE_CONTRACT) -> None:
        self.contract = contract
        self.hold_threshold = hold_threshold
        self.fail_at = set(fail_at or ())
        self.bad_at = set(bad_at or ())
        self.count = 0  # the "recurrent state": steps since reset
        self.calls: list[dict] = []  # every step's inputs, for tests to inspect
        self.resets = 0
        self._out = np.zeros(len(contract.parts), np.int64)  # reused like the ONNX runtime's buffer

    @property
    def vocab(self) -> Vocab:
        return self.contract.vocab

    def step(self, lead, prev_lead, prev_parts, position, noise, temperature, top_p, logit_bias):
        v = self.vocab
        call = len(self.calls)
        self.calls.append({"lead": int(lead), "prev_lead": int(prev_lead), "prev_parts": tuple(int(x) for x in prev_parts),
                           "position": tuple(position), "noise": noise.copy(), "count": self.count,
                           "temperature": float(temperature)})
        if call in self.fail_at:
            raise RuntimeError("fake failure")
        self.count += 1
        if call in self.bad_at:
            self._out[:] = v.unknown
            return self._out
        late_onset = lead == v.hold and v.is_onset(prev_lead) and not all(
            v.is_onset(int(t)) for t in prev_parts)  # the lead began at t-1 but the parts did not answer it
        if v.is_onset(lead) or late_onset:
            for k, pitch in enumerate(fake_voicing(v.pitch(lead if v.is_onset(lead) else prev_lead))):
                held = self.hold_threshold is not None and noise[k, 0] > self.hold_threshold and prev_parts[k] != v.rest
                self._out[k] = v.hold if held else v.onset(pitch)
        elif lead == v.hold or (lead == v.unknown and prev_lead != v.rest):
            self._out[:] = v.hold
        else:
            self._out[:] = v.rest
        return self._out

    def snapshot(self) -> int:
        return self.count

    def restore(self, snap: int) -> None:
        self.count = snap

    def reset(self) -> None:
        self.count = 0
        self.resets += 1


@dataclass(frozen=True)
class _MelodyContract:
    vocab: Vocab = MELODY_VOCAB
    steps_per_beat: int = 4


class FakeMelody:
    """An answer model (sideman.bridge.model.melody.MelodyModel's interface) with answers you can work out by
    hand: on each beat an onset rising by a step through the C major scale from C5 (one scale step per onset
    fed to it since its last reset: its state), holds between. `fed` logs every step, whatever the state."""

    contract = _MelodyContract()

    def __init__(self) -> None:
        self.fed: list[tuple[int, int]] = []
        self.resets = 0
        self.onsets = 0

    def reset(self) -> None:
        self.resets += 1
        self.onsets = 0

    def snapshot(self) -> int:
        return self.onsets

    def restore(self, snapshot: int) -> None:
        self.onsets = snapshot

    def step(self, prev: int, phase: int) -> np.ndarray:
        v = MELODY_VOCAB
        self.fed.append((prev, phase))
        self.onsets += v.is_onset(prev)
        logits = np.zeros(v.size, np.float32)
        if phase == 0:
            scale = [0, 2, 4, 5, 7, 9, 11]
            logits[v.onset(72 + scale[self.onsets % 7])] = 50.0
        else:
            logits[v.hold] = 50.0
        return logits
