"""Run a Sideman model one step at a time with ONNX Runtime (numpy + onnxruntime only, never torch).

`OnnxStepModel` loads one ONNX file that follows docs/model-contract.md, checks it against the
contract, and owns the recurrent state between calls: `step()` feeds one 16th-note step and
returns the parts' tokens; `snapshot()` / `restore()` let the engine re-answer a step when a lead
note arrives late; `reset()` starts a new session.

Why IOBinding: every input and output is bound once to a preallocated numpy buffer (ONNX Runtime
reads and writes those buffers in place), and the state is two buffers that swap roles each step
(ping-pong), so a step copies a few hundred bytes into the input buffers and allocates no tensors.
It is kept because it is faster than `session.run()` with a feed dict (`python -m benchmarks.model`
prints both, benchmarks/results.md has the figures). No RunOptions object is passed to
`run_with_iobinding`: onnxruntime's Python wrapper then runs a graph-capture check on every call.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

# ONNX Runtime >= 1.29 (official Linux/macOS builds) sends usage telemetry to Microsoft over HTTPS
# (mobile.events.data.microsoft.com) and writes a device id under ~/.cache, starting at import.
# Sideman promises no network traffic and no files outside its recording directory, so it opts out
# before the import, as ONNX Runtime documents; a user who sets the variable keeps their choice.
# tests/bridge/live/jack/test_sandbox.py runs a live session and checks both.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort  # noqa: E402 - must follow the opt-out above

from sideman.bridge.model.contract import (INPUT_NAMES, METADATA_KEY, N_KEY_CLASSES, OPTIONAL_INPUT_NAMES, OUTPUT_NAMES,
                                           Contract)
from sideman.bridge.errors import ModelError

T = TypeVar("T")
_ONNX_TYPES = {"tensor(int64)": np.int64, "tensor(float)": np.float32}


def session_options() -> ort.SessionOptions:
    """Options for many tiny sequential calls: one thread, no spinning, all graph optimizations.

    Spinning threads would burn a core waiting for work that comes every ~100 ms; more than one
    thread only adds synchronisation to a graph this small.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # warnings about unused initializers etc. are not the user's business
    return opts


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: type
    shape: tuple[int, ...]


def expected_inputs(contract: Contract) -> tuple[TensorSpec, ...]:
    """The graph inputs the contract requires, with their dtypes and shapes."""
    p, v = len(contract.parts), contract.vocab.size
    shapes = {
        "lead": (1,), "prev_lead": (1,), "prev_parts": (p,), "position": (2,),
        "noise": (p, v), "temperature": (1,), "top_p": (1,), "logit_bias": (p, v),
    }
    dtypes = {"lead": np.int64, "prev_lead": np.int64, "prev_parts": np.int64, "position": np.int64}
    fixed = tuple(TensorSpec(n, dtypes.get(n, np.float32), shapes[n]) for n in INPUT_NAMES)
    return fixed + tuple(TensorSpec(s.input, np.float32, s.shape) for s in contract.state)


def expected_outputs(contract: Contract) -> tuple[TensorSpec, ...]:
    """The graph outputs the contract requires, with their dtypes and shapes."""
    p, v = len(contract.parts), contract.vocab.size
    fixed = (TensorSpec(OUTPUT_NAMES[0], np.float32, (p, v)), TensorSpec(OUTPUT_NAMES[1], np.int64, (p,)))
    return fixed + tuple(TensorSpec(s.output, np.float32, s.shape) for s in contract.state)


def optional_inputs(contract: Contract) -> tuple[TensorSpec, ...]:
    """The graph inputs a model may have, with their dtypes and shapes."""
    p, v = len(contract.parts), contract.vocab.size
    shapes = {"pair_bias": (p, p, v, v), "key_probs": (N_KEY_CLASSES,)}
    return tuple(TensorSpec(n, np.float32, shapes[n]) for n in OPTIONAL_INPUT_NAMES)


def check_io(path: Path, kind: str, actual: list, expected: tuple[TensorSpec, ...],
              optional: tuple[TensorSpec, ...] = ()) -> None:
    """Raise ModelError if a required tensor is missing or has the wrong dtype or a wrong fixed dim."""
    by_name = {node.name: node for node in actual}
    for spec in expected + optional:
        node = by_name.get(spec.name)
        if node is None and spec in optional:
            continue
        if node is None:
            raise ModelError(f"{path}: the graph has no {kind} {spec.name!r} (the model contract requires it)")
        dtype = _ONNX_TYPES.get(node.type)
        if dtype is not spec.dtype:
            raise ModelError(f"{path}: {kind} {spec.name!r} is {node.type}, the contract requires {np.dtype(spec.dtype).name}")
        shape = list(node.shape)
        # A symbolic dim (str / None) fits any size; a fixed dim must match exactly.
        if len(shape) != len(spec.shape) or any(isinstance(d, int) and d != e for d, e in zip(shape, spec.shape)):
            raise ModelError(f"{path}: {kind} {spec.name!r} has shape {shape}, the contract requires {list(spec.shape)}")
    if kind == "input":
        extra = sorted(set(by_name) - {s.name for s in expected + optional})
        if extra:
            raise ModelError(f"{path}: the graph has inputs the contract does not define: {', '.join(extra)}")


def open_session(path: Path) -> ort.InferenceSession:
    """An ONNX Runtime session of one file with `session_options()`; ModelError (one line) if it cannot be opened."""
    if path.is_dir():
        raise ModelError(f"{path}: is a directory; give the model's .onnx file")
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        return ort.InferenceSession(str(path), sess_options=session_options(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own (non-exported) exception classes
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: not a loadable ONNX model ({reason[:200]})") from None


def open_with_contract(path: Path, key: str, parse: Callable[[str], T], kind: str) -> tuple[ort.InferenceSession, T]:
    """An ONNX file's session and its contract, parsed from metadata `key` by `parse` (ValueError: a reason);
    one ModelError line, naming the file, if either is missing or bad. `kind` names what the file should be."""
    session = open_session(path)
    meta = session.get_modelmeta().custom_metadata_map
    if key not in meta:
        raise ModelError(f"{path}: no {key!r} metadata; this is not a Sideman {kind} (see docs/model-contract.md)")
    try:
        return session, parse(meta[key])
    except ValueError as exc:
        raise ModelError(f"{path}: {exc}") from None


def load_session(path: str | os.PathLike) -> tuple[ort.InferenceSession, Contract]:
    """Open an ONNX file and validate it against the contract; every failure is one ModelError line."""
    path = Path(path)
    session, contract = open_with_contract(path, METADATA_KEY, Contract.from_json, "model")
    for spec in contract.state:
        if not spec.shape or any(d < 1 for d in spec.shape):
            raise ModelError(f"{path}: state {spec.input!r} has shape {list(spec.shape)}; every dimension must be fixed and positive")
    check_io(path, "input", session.get_inputs(), expected_inputs(contract), optional_inputs(contract))
    check_io(path, "output", session.get_outputs(), expected_outputs(contract))
    return session, contract


@dataclass(frozen=True)
class Snapshot:
    """The recurrent state at one moment (copies, so later steps cannot change it)."""

    states: tuple[np.ndarray, ...]
    logits: np.ndarray


class OnnxStepModel:
    """One loaded model plus its recurrent state, advanced one step per `step()` call."""

    def __init__(self, session: ort.InferenceSession, contract: Contract, path: Path) -> None:
        self.session = session
        self.contract = contract
        self.path = path
        self.n_parts = len(contract.parts)
        self.vocab_size = contract.vocab.size
        p, v = self.n_parts, self.vocab_size
        self._max_beat = contract.max_beats_in_bar - 1
        # Input buffers, bound once; step() writes into them in place.
        self._lead = np.zeros(1, np.int64)
        self._prev_lead = np.zeros(1, np.int64)
        self._prev_parts = np.zeros(p, np.int64)
        self._position = np.zeros(2, np.int64)
        self._noise = np.zeros((p, v), np.float32)
        self._temperature = np.ones(1, np.float32)
        self._top_p = np.ones(1, np.float32)
        self._bias = np.zeros((p, v), np.float32)
        # The parallel-motion guard's pair bias (bridge/core/voice_leading.py), if the graph takes one.
        # Callers write into it in place: at 97 KB a copy per step would cost more than it needs.
        has_pairs = any(i.name == "pair_bias" for i in session.get_inputs())
        self.pair_bias: np.ndarray | None = np.zeros((p, p, v, v), np.float32) if has_pairs else None
        # The key heard before the step, if the graph reads one; the engine writes it in place (uniform: unheard).
        has_key = any(i.name == "key_probs" for i in session.get_inputs())
        self.key_probs: np.ndarray | None = np.full(N_KEY_CLASSES, 1.0 / N_KEY_CLASSES, np.float32) if has_key else None
        # Output buffers.
        self._logits = np.zeros((p, v), np.float32)
        self._tokens = np.zeros(p, np.int64)
        # Ping-pong state: binding k reads states[k] and writes states[1 - k].
        self._states = [tuple(np.zeros(s.shape, np.float32) for s in contract.state) for _ in range(2)]
        self._bindings = [self._bind(k) for k in range(2)]
        self._current = 0  # index of the buffer set holding the state after the last step

    @classmethod
    def load(cls, path: str | os.PathLike) -> "OnnxStepModel":
        session, contract = load_session(path)
        return cls(session, contract, Path(path))

    def _bind(self, k: int) -> ort.IOBinding:
        binding = self.session.io_binding()
        fixed = (self._lead, self._prev_lead, self._prev_parts, self._position,
                 self._noise, self._temperature, self._top_p, self._bias)
        for name, buf in zip(INPUT_NAMES, fixed):
            binding.bind_cpu_input(name, buf)
        if self.pair_bias is not None:
            binding.bind_cpu_input("pair_bias", self.pair_bias)
        if self.key_probs is not None:
            binding.bind_cpu_input("key_probs", self.key_probs)
        for spec, buf in zip(self.contract.state, self._states[k]):
            binding.bind_cpu_input(spec.input, buf)
        outputs = [("logits", self._logits), ("tokens", self._tokens)]
        outputs += [(s.output, buf) for s, buf in zip(self.contract.state, self._states[1 - k])]
        for name, buf in outputs:
            binding.bind_output(name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
        return binding

    # -- the engine's API -------------------------------------------------------------------------

    def step(
        self,
        lead: int,
        prev_lead: int,
        prev_parts: np.ndarray,
        position: tuple[int, int],
        noise: np.ndarray,
        temperature: float,
        top_p: float,
        logit_bias: np.ndarray,
    ) -> np.ndarray:
        """Advance one step and return the parts' tokens (int64, P, in `contract.parts` order).

        The returned array is a buffer reused by the next call: copy it if you keep it. The graph's
        `pair_bias` and `key_probs` inputs, if it has them, are read from `self.pair_bias` and `self.key_probs`
        as they are at the call.
        `position` is (step_in_beat, beat_in_bar); beat_in_bar is clipped to max_beats_in_bar - 1.
        """
        self._lead[0] = lead
        self._prev_lead[0] = prev_lead
        self._prev_parts[:] = prev_parts
        self._position[0] = position[0]
        self._position[1] = min(position[1], self._max_beat)
        self._noise[...] = noise
        self._temperature[0] = temperature
        self._top_p[0] = top_p
        self._bias[...] = logit_bias
        self.session.run_with_iobinding(self._bindings[self._current])
        # NaN logits (e.g. a NaN that crept into the state) make the graph's argmax answer token 0,
        # a valid "rest", forever: a silent failure. Raise instead, so the engine treats the step as
        # a fault and resets; the poisoned state is not adopted. The sum is NaN/inf if any logit is,
        # and makes no temporary array.
        if not math.isfinite(self._logits.sum()):
            raise FloatingPointError("the model's logits are not finite (NaN or infinity)")
        self._current = 1 - self._current
        return self._tokens

    @property
    def last_logits(self) -> np.ndarray:
        """(P, V) raw logits of the last step (a view of a reused buffer)."""
        return self._logits

    @property
    def state(self) -> tuple[np.ndarray, ...]:
        """The current recurrent state tensors (views of reused buffers)."""
        return self._states[self._current]

    def snapshot(self) -> Snapshot:
        """Copy of the current state; `restore()` it to re-answer the next step."""
        return Snapshot(tuple(s.copy() for s in self.state), self._logits.copy())

    def restore(self, snapshot: Snapshot) -> None:
        for buf, saved in zip(self.state, snapshot.states):
            buf[...] = saved
        self._logits[...] = snapshot.logits

    def reset(self) -> None:
        """Back to the start of a session: zero state, nothing heard."""
        for buf in self.state:
            buf.fill(0.0)
        if self.key_probs is not None:
            self.key_probs.fill(1.0 / N_KEY_CLASSES)
        self._logits.fill(0.0)
        self._tokens.fill(0)
