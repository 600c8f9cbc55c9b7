"""The answer model's contract, tokens and runtime (numpy + onnxruntime only, never torch).

A melody file (docs/model-contract.md, "The answer model") is one ONNX step graph: inputs `prev` (1,) int64,
the token of the step before, `phase` (1,) int64, the 16th within the beat of the step predicted, and
`state` (1, 1, H) float; outputs `logits` (V,) over the next token and `state_out`. Its contract JSON, in
the `sideman.melody` metadata, names the vocabulary (the chorale one's layout over a melody's range) and H.
`MelodyModel` opens it with the bridge's session options and owns the state between calls.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sideman.bridge.model.contract import Vocab, metadata_object, vocab_from_dict
from sideman.bridge.model.runtime import TensorSpec, check_io, open_with_contract

MELODY_METADATA_KEY = "sideman.melody"
MELODY_VERSION = 1
MELODY_VOCAB = Vocab(pitch_min=48, pitch_max=96)  # folk melodies' range; a call is folded into it by octaves
INPUT_NAMES = ("prev", "phase", "state")
OUTPUT_NAMES = ("logits", "state_out")
DEFAULT_MELODY = Path(__file__).resolve().parents[1] / "assets" / "melody-gru.onnx"


@dataclass(frozen=True)
class MelodyContract:
    name: str
    hidden: int
    vocab: Vocab = MELODY_VOCAB
    steps_per_beat: int = 4
    provenance: dict[str, Any] = field(default_factory=dict)
    contract_version: int = MELODY_VERSION

    def to_json(self) -> str:
        doc = {"contract_version": self.contract_version, "name": self.name, "hidden": self.hidden,
               "vocab": {**asdict(self.vocab), "size": self.vocab.size}, "steps_per_beat": self.steps_per_beat,
               "provenance": self.provenance}
        return json.dumps(doc, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MelodyContract":
        """Parse and check; ValueError with a short reason (the caller adds the file name)."""
        doc = metadata_object(text, "melody contract", MELODY_VERSION)
        try:
            contract = cls(str(doc.get("name", "unnamed")), int(doc["hidden"]), vocab_from_dict(doc["vocab"]), int(doc["steps_per_beat"]),
                           dict(doc.get("provenance", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"melody metadata lacks or mistypes a field ({exc!s})") from None
        if contract.hidden < 1 or contract.steps_per_beat < 1:
            raise ValueError("hidden and steps_per_beat must be positive")
        return contract


def melody_tokens(notes: Sequence[tuple[int, int, int]], n_steps: int, vocab: Vocab = MELODY_VOCAB) -> np.ndarray:
    """[n_steps] int64 tokens of monophonic (start, end, pitch) notes on the 16th grid: onset, hold, or rest.
    Pitches must lie in the vocabulary (fold them first); a later onset cuts an earlier note, and of notes struck
    together the highest is the melody."""
    tokens = np.full(n_steps, vocab.rest, np.int64)
    for start, end, pitch in sorted(notes, key=lambda n: (n[0], n[2])):
        if start >= n_steps:
            continue
        tokens[start] = vocab.onset(pitch)
        tokens[start + 1:min(end, n_steps)] = vocab.hold
    return tokens


def octave_shift(pitches: Sequence[int], vocab: Vocab = MELODY_VOCAB) -> int:
    """The whole octaves (in semitones) that bring the median of `pitches` nearest the vocabulary's centre."""
    if not len(pitches):
        return 0
    centre = (vocab.pitch_min + vocab.pitch_max) / 2
    return 12 * int(round((centre - float(np.median(pitches))) / 12))


def fold(pitch: int, vocab: Vocab = MELODY_VOCAB) -> int:
    """`pitch` moved by whole octaves into the vocabulary's range."""
    while pitch < vocab.pitch_min:
        pitch += 12
    while pitch > vocab.pitch_max:
        pitch -= 12
    return pitch


def expected_io(contract: MelodyContract) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    h, v = contract.hidden, contract.vocab.size
    inputs = (TensorSpec("prev", np.int64, (1,)), TensorSpec("phase", np.int64, (1,)), TensorSpec("state", np.float32, (1, 1, h)))
    outputs = (TensorSpec("logits", np.float32, (v,)), TensorSpec("state_out", np.float32, (1, 1, h)))
    return inputs, outputs


class MelodyModel:
    """One loaded answer model plus its state, advanced one step per `step()` call."""

    def __init__(self, session: Any, contract: MelodyContract, path: Path) -> None:
        self.session, self.contract, self.path = session, contract, path
        # Buffers bound once (IOBinding); the state is two buffers that swap roles each step, as in runtime.py.
        self._prev = np.zeros(1, np.int64)
        self._phase = np.zeros(1, np.int64)
        self._logits = np.zeros(contract.vocab.size, np.float32)
        self._states = [np.zeros((1, 1, contract.hidden), np.float32) for _ in range(2)]
        self._bindings = [self._bind(k) for k in range(2)]
        self._current = 0  # the state buffer holding the state after the last step

    def _bind(self, k: int) -> Any:
        binding = self.session.io_binding()
        for name, buf in (("prev", self._prev), ("phase", self._phase), ("state", self._states[k])):
            binding.bind_cpu_input(name, buf)
        for name, buf in (("logits", self._logits), ("state_out", self._states[1 - k])):
            binding.bind_output(name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
        return binding

    @classmethod
    def load(cls, path: str | os.PathLike[str] = DEFAULT_MELODY) -> "MelodyModel":
        """Open a melody file and check it against the contract; every failure is one ModelError line."""
        path = Path(path)
        session, contract = open_with_contract(path, MELODY_METADATA_KEY, MelodyContract.from_json, "answer model")
        inputs, outputs = expected_io(contract)
        check_io(path, "input", session.get_inputs(), inputs)
        check_io(path, "output", session.get_outputs(), outputs)
        return cls(session, contract, path)

    def reset(self) -> None:
        self._states[self._current].fill(0.0)

    def snapshot(self) -> np.ndarray:
        """A copy of the state; `restore()` it to go on from here (one model, several calls primed at once)."""
        return self._states[self._current].copy()

    def restore(self, snapshot: np.ndarray) -> None:
        self._states[self._current][...] = snapshot

    def step(self, prev: int, phase: int) -> np.ndarray:
        """Feed the token of the step before and the phase of this one; the logits (V,) of this step's token
        (a buffer the next call reuses)."""
        self._prev[0] = prev
        self._phase[0] = phase
        self.session.run_with_iobinding(self._bindings[self._current])
        if not np.isfinite(self._logits.sum()):
            raise FloatingPointError("the answer model's logits are not finite")
        self._current = 1 - self._current
        return self._logits
