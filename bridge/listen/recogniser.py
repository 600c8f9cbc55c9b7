"""The bridge's ears: a causal CNN in ONNX Runtime that hears, every 16th-note step, the key and the chord.

`Recogniser.load()` opens `bridge/assets/listener.onnx` (or any file following the listener contract,
docs/model-contract.md) with the bridge's runtime conventions (one thread, no spinning, every input
and output bound once to a preallocated buffer, the state in two buffer sets that swap roles each
step) and checks it against the contract. `step()` feeds what sounds at one step and returns what
it hears; the state is the convolutions' caches, fixed in size, so every step costs the same however
long the session runs (the features' running profiles are fixed in size too). `snapshot()` / `restore()` re-answer a step; `reset()` starts a new session.
numpy and onnxruntime only, never torch.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sideman.bridge.listen.contract import INPUT_NAME, LISTENER_METADATA_KEY, OUTPUT_NAMES, ListenerContract
from sideman.bridge.listen.features import Hearing
from sideman.bridge.listen.names import chord_name, key_name
from sideman.bridge.model.runtime import TensorSpec, check_io, open_with_contract

DEFAULT_LISTENER = Path(__file__).resolve().parents[1] / "assets" / "listener.onnx"


@dataclass(frozen=True)
class Heard:
    """What the recogniser hears at one step: the most likely key and chord, with their probabilities."""

    key: int  # names.key_index
    key_confidence: float
    chord: int  # names.chord_index or NO_CHORD
    chord_confidence: float

    @property
    def key_name(self) -> str:
        return key_name(self.key)

    @property
    def chord_name(self) -> str:
        """The chord, spelled for the key heard with it."""
        return chord_name(self.chord, self.key)


def expected_io(contract: ListenerContract) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """(inputs, outputs) the listener contract requires."""
    inputs = (TensorSpec(INPUT_NAME, np.float32, (contract.n_features,)),)
    inputs += tuple(TensorSpec(s.input, np.float32, s.shape) for s in contract.state)
    outputs = (TensorSpec(OUTPUT_NAMES[0], np.float32, (contract.n_keys,)),
               TensorSpec(OUTPUT_NAMES[1], np.float32, (contract.n_chords,)))
    outputs += tuple(TensorSpec(s.output, np.float32, s.shape) for s in contract.state)
    return inputs, outputs


def load_listener_session(path: str | os.PathLike[str]) -> tuple[Any, ListenerContract]:
    """Open a listener file and check it against the contract; every failure is one ModelError line."""
    path = Path(path)
    session, contract = open_with_contract(path, LISTENER_METADATA_KEY, ListenerContract.from_json, "listener")
    inputs, outputs = expected_io(contract)
    check_io(path, "input", session.get_inputs(), inputs)
    check_io(path, "output", session.get_outputs(), outputs)
    return session, contract


class Recogniser:
    """One loaded listener model plus its state, advanced one 16th-note step per `step()` call."""

    def __init__(self, session: Any, contract: ListenerContract, path: Path) -> None:
        self.path, self.session, self.contract = path, session, contract
        self._hearing = Hearing()
        self._features = np.zeros(contract.n_features, np.float32)
        self._key = np.zeros(contract.n_keys, np.float32)
        self._chord = np.zeros(contract.n_chords, np.float32)
        # Ping-pong state: binding k reads states[k] and writes states[1 - k].
        self._states = [tuple(np.zeros(s.shape, np.float32) for s in contract.state) for _ in range(2)]
        self._bindings = [self._bind(k) for k in range(2)]
        self._current = 0

    @classmethod
    def load(cls, path: str | os.PathLike[str] = DEFAULT_LISTENER) -> "Recogniser":
        session, contract = load_listener_session(path)
        return cls(session, contract, Path(path))

    def _bind(self, k: int) -> Any:
        binding = self.session.io_binding()
        binding.bind_cpu_input(INPUT_NAME, self._features)
        for spec, buf in zip(self.contract.state, self._states[k]):
            binding.bind_cpu_input(spec.input, buf)
        outputs = [(OUTPUT_NAMES[0], self._key), (OUTPUT_NAMES[1], self._chord)]
        outputs += [(s.output, buf) for s, buf in zip(self.contract.state, self._states[1 - k])]
        for name, buf in outputs:
            binding.bind_output(name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
        return binding

    def step(self, sounding: Collection[int], onsets: Collection[int], step_in_beat: int) -> Heard:
        """Hear one step: the MIDI pitches sounding (held or struck), those struck at this step, and the
        step's 16th within its beat. Returns the key and chord heard so far."""
        self._hearing.step(sounding, onsets, step_in_beat, self._features)
        self.session.run_with_iobinding(self._bindings[self._current])
        self._current = 1 - self._current
        key, chord = int(self._key.argmax()), int(self._chord.argmax())
        return Heard(key, float(self._key[key]), chord, float(self._chord[chord]))

    @property
    def key_probs(self) -> np.ndarray:
        """[24] key probabilities of the last step (a view of a reused buffer)."""
        return self._key

    @property
    def chord_probs(self) -> np.ndarray:
        """[49] chord probabilities of the last step (a view of a reused buffer)."""
        return self._chord

    @property
    def state(self) -> tuple[np.ndarray, ...]:
        return self._states[self._current]

    def snapshot(self) -> tuple[np.ndarray, ...]:
        """Copies of the state (the caches and the features' profiles) and the last answer; `restore()`
        them to hear the next step again."""
        return (*(s.copy() for s in self.state), self._hearing.profiles.copy(), self._key.copy(), self._chord.copy())

    def restore(self, snapshot: tuple[np.ndarray, ...]) -> None:
        *states, profiles, key, chord = snapshot
        for buf, saved in zip(self.state, states):
            buf[...] = saved
        self._hearing.profiles[...] = profiles
        self._key[...], self._chord[...] = key, chord

    def reset(self) -> None:
        """Back to silence: zero caches and profiles, no answer."""
        for buf in self.state:
            buf.fill(0.0)
        self._hearing.reset()
        self._key.fill(0.0)
        self._chord.fill(0.0)
