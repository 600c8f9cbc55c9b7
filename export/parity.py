"""Parity of an exported ONNX step graph with the torch network it came from, and ONNX-side scoring.

`check_parity` runs the torch `sample_step` and the ONNX file (through the real runtime,
`sideman.bridge.model.runtime.OnnxStepModel`) side by side on the same inputs for hundreds of steps, once greedy
and once with seeded Gumbel noise, and compares logits, tokens and state at every step.
`score_onnx` measures the teacher-forced NLL and the step time of an ONNX file (fp32 or int8).

torch is imported inside the functions: `sideman --help` must not pay for it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sideman.bridge.model.contract import Contract, Vocab
from sideman.bridge.errors import ModelError
from sideman.bridge.model.runtime import OnnxStepModel
from sideman.bridge.model.sampling import decode_order_indices, gumbel_noise, range_bias
from sideman.bridge.core.voice_leading import NO_PITCH, ParallelGuard, next_pitch

LOGIT_TOLERANCE = 1e-4
STATE_TOLERANCE = 1e-4
PARITY_STEPS = 500


@dataclass(frozen=True)
class StepSequence:
    """Inputs for a run of steps: lead [T], its true value prev_lead [T], parts [T, P], position [T, 2]."""

    lead: np.ndarray
    prev_lead: np.ndarray
    parts: np.ndarray  # the true parts at t (for teacher forcing); prev_parts is parts shifted by one
    position: np.ndarray
    source: str  # where the steps come from, for the report

    def __len__(self) -> int:
        return len(self.lead)

    @property
    def prev_parts(self) -> np.ndarray:
        prev = np.empty_like(self.parts)
        prev[0] = Vocab().rest
        prev[1:] = self.parts[:-1]
        return prev


def sequence_from_pieces(pieces: Sequence[Any], n_steps: int | None, source: str) -> StepSequence:
    """Concatenate sideman.models.data Pieces (tokens [T, 4]: lead then parts) into one continuous session."""
    tokens, position = [], []
    total = 0
    for piece in pieces:
        tokens.append(piece.tokens)
        position.append(piece.position)
        total += len(piece.tokens)
        if n_steps is not None and total >= n_steps:
            break
    tok = np.concatenate(tokens)[:n_steps]
    pos = np.concatenate(position)[:n_steps]
    prev_lead = np.concatenate([[Vocab().rest], tok[:-1, 0]])
    names = ", ".join(p.name for p in pieces[: len(tokens)])
    return StepSequence(tok[:, 0].copy(), prev_lead, tok[:, 1:].copy(), pos.copy(), f"{source}: {names}")


def synthetic_sequence(contract: Contract, n_steps: int, seed: int = 0) -> StepSequence:
    """A deterministic random-walk melody in the lead's range with held notes (used when no data)."""
    rng = np.random.default_rng(seed)
    vocab, lead_voice = contract.vocab, contract.lead
    lead = np.empty(n_steps, np.int64)
    pitch = (lead_voice.low + lead_voice.high) // 2
    for t in range(n_steps):
        if t % 4 == 0 and rng.random() < 0.8:
            pitch = int(np.clip(pitch + rng.integers(-3, 4), lead_voice.low, lead_voice.high))
            lead[t] = vocab.onset(pitch)
        else:
            lead[t] = vocab.hold if t > 0 else vocab.onset(pitch)
    parts = np.empty((n_steps, len(contract.parts)), np.int64)
    for k, part in enumerate(contract.parts):
        pitches = rng.integers(part.low, part.high + 1, size=n_steps)
        parts[:, k] = np.where(np.arange(n_steps) % 4 == 0, [vocab.onset(int(p)) for p in pitches], vocab.hold)
    spb = contract.steps_per_beat
    position = np.stack([np.arange(n_steps) % spb, (np.arange(n_steps) // spb) % 4], axis=1).astype(np.int64)
    prev_lead = np.concatenate([[vocab.rest], lead[:-1]])
    return StepSequence(lead, prev_lead, parts, position, f"synthetic melody (seed {seed}), no chorale data")


def held_out_pieces(n_steps: int | None = None) -> list[Any]:
    """Test-split chorales (sideman.models.data Pieces) in split order, at least `n_steps` of them if given.

    Uses the full parsed corpus if it is cached; otherwise parses only the test pieces it needs.
    Raises ImportError / OSError / ValueError when the data is unavailable.
    """
    from sideman.models import data

    names = data.read_splits()["test"]
    if n_steps is None or (data.cache_dir() / f"chorales-{data.code_key()}.npz").is_file():
        by_name = {p.name: p for p in data.build_corpus(progress=False)[0]}
        pieces = [by_name[n] for n in names if n in by_name]
    else:
        root = data.corpus_paths()[0].parent
        pieces, total = [], 0
        for name in names:
            try:
                piece = data.parse_piece(root / name)
            except data.PieceError:
                continue
            pieces.append(piece)
            total += len(piece.tokens)
            if total >= n_steps:
                break
    if n_steps is not None:
        reach = np.cumsum([len(p.tokens) for p in pieces])
        if not len(reach) or reach[-1] < n_steps:
            raise ValueError("not enough test-split steps")
        pieces = pieces[: int(np.searchsorted(reach, n_steps)) + 1]
    if not pieces:
        raise ValueError("no test-split pieces")
    return pieces


def held_out_sequence(contract: Contract, n_steps: int = PARITY_STEPS) -> StepSequence:
    """`n_steps` of held-out chorales (test split) as one continuous session; a synthetic melody if
    the data is unavailable (the sequence's `source` says which)."""
    try:
        return sequence_from_pieces(held_out_pieces(n_steps), n_steps, "chorale test split")
    except (ImportError, OSError, ValueError, IndexError):
        return synthetic_sequence(contract, n_steps)


def held_out_sessions(contract: Contract, n_steps: int | None = None) -> list[StepSequence]:
    """Each test-split chorale as its own session (state from zero), like `sideman evaluate` scores
    them; up to about `n_steps` steps in all (None = the whole split). Synthetic if no data."""
    try:
        pieces = held_out_pieces(n_steps)
    except (ImportError, OSError, ValueError, IndexError):
        return [synthetic_sequence(contract, n_steps or PARITY_STEPS)]
    return [sequence_from_pieces([p], None, "chorale test split") for p in pieces]


@dataclass(frozen=True)
class ParityReport:
    mode: str
    steps: int
    max_logit_diff: float  # over the tokens a part may produce (forbidden ones are ~-1e9 in both)
    max_state_diff: float
    token_mismatches: int
    forbidden_ok: bool  # every forbidden logit is still hugely negative in the ONNX output

    @property
    def ok(self) -> bool:
        return (self.max_logit_diff < LOGIT_TOLERANCE and self.max_state_diff < STATE_TOLERANCE
                and self.token_mismatches == 0 and self.forbidden_ok)

    def describe(self) -> str:
        return (f"{self.mode}: {self.steps} steps, max |logit diff| {self.max_logit_diff:.2e}, "
                f"max |state diff| {self.max_state_diff:.2e}, {self.token_mismatches} token mismatches"
                + ("" if self.forbidden_ok else ", forbidden tokens not masked"))


def heard_keys_for(model: OnnxStepModel, seq: StepSequence) -> np.ndarray | None:
    """[T, 24] the key heard before each step of `seq`, as the engine feeds a graph with a `key_probs` input
    (models/heard_key.py); None for a graph without one."""
    if model.key_probs is None:
        return None
    from sideman.models.heard_key import heard_keys

    return heard_keys(seq.lead, seq.position[:, 0], model.contract.vocab)


def run_parity(net: Any, onnx_path: str | Path, seq: StepSequence, mode: str, seed: int = 0,
               temperature: float = 1.0, top_p: float = 1.0) -> ParityReport:
    """Torch `sample_step` vs the ONNX file on the same inputs, free-running on torch's tokens.

    mode "greedy" feeds zero noise; "sampled" feeds seeded Gumbel noise. Both sides get identical
    inputs at every step (the lead of `seq`, `unknown` on every 7th step, and torch's own previous
    tokens as prev_parts), and each keeps its own recurrent state, so state drift would show.
    """
    import torch

    model = OnnxStepModel.load(onnx_path)
    contract = model.contract
    P, V = model.n_parts, model.vocab_size
    bias = range_bias(contract)
    allowed = (net.range_bias.numpy() == 0) & (bias == 0)
    rng = np.random.default_rng(seed)
    noise = np.zeros((P, V), np.float32)
    t_state = net.initial_state(1)
    t_temp, t_top = torch.tensor([temperature], dtype=torch.float32), torch.tensor([top_p], dtype=torch.float32)
    t_bias = torch.from_numpy(bias)
    prev_parts = np.full(P, contract.vocab.rest, np.int64)
    # Real guard biases (bridge/core/voice_leading.py), so the pair_bias path is checked with the rest.
    guard = ParallelGuard(contract.vocab, P, decode_order_indices(contract), pair_bias=model.pair_bias)
    t_pairs = torch.from_numpy(guard.pair_bias)
    part_pitch = np.full(P, NO_PITCH, np.int64)
    keys = heard_keys_for(model, seq)
    max_logit = max_state = 0.0
    mismatches, forbidden_ok = 0, True
    unknown = contract.vocab.unknown
    with torch.inference_mode():
        for t in range(len(seq)):
            lead = unknown if t % 7 == 3 else int(seq.lead[t])
            prev_lead = int(seq.prev_lead[t])
            position = (int(seq.position[t, 0]), min(int(seq.position[t, 1]), contract.max_beats_in_bar - 1))
            if mode == "sampled":
                gumbel_noise(rng, (P, V), out=noise)
            if model.pair_bias is not None:
                guard.update_pairs(part_pitch)
            if keys is not None:
                model.key_probs[...] = keys[t]
            logits, tokens, t_state = net.sample_step(
                torch.tensor([lead]), torch.tensor([prev_lead]), torch.from_numpy(prev_parts.copy()),
                torch.tensor(position), t_state, torch.from_numpy(noise.copy()), t_temp, t_top, t_bias,
                t_pairs if model.pair_bias is not None else None,
                key_probs=None if keys is None else torch.from_numpy(keys[t]))
            o_tokens = model.step(lead, prev_lead, prev_parts, position, noise, temperature, top_p, bias)
            t_logits = logits.numpy()
            max_logit = max(max_logit, float(np.abs(model.last_logits - t_logits)[allowed].max()))
            forbidden_ok &= bool((model.last_logits[~allowed] < -1e8).all()) if (~allowed).any() else True
            max_state = max(max_state, max(float(np.abs(o - s).max()) for o, s in zip(model.state, [t_state.numpy()])))
            mismatches += int((o_tokens != tokens.numpy()).sum())
            prev_parts = tokens.numpy().astype(np.int64)
            for k in range(P):
                part_pitch[k] = next_pitch(int(part_pitch[k]), int(prev_parts[k]), contract.vocab)
    if not math.isfinite(max_logit) or not math.isfinite(max_state):
        max_logit = max_state = math.inf
    return ParityReport(mode, len(seq), max_logit, max_state, mismatches, forbidden_ok)


def check_parity(net: Any, onnx_path: str | Path, seq: StepSequence) -> list[ParityReport]:
    """Greedy and sampled parity runs; raises ModelError with the measured differences if one fails."""
    reports = [run_parity(net, onnx_path, seq, "greedy"),
               run_parity(net, onnx_path, seq, "sampled", seed=1, temperature=0.9, top_p=0.95)]
    failed = [r for r in reports if not r.ok]
    if failed:
        raise ModelError(f"{onnx_path}: ONNX graph disagrees with torch ("
                         + "; ".join(r.describe() for r in failed)
                         + f"; tolerance {LOGIT_TOLERANCE:g}); not written")
    return reports


@dataclass(frozen=True)
class OnnxScore:
    nll: float  # teacher-forced nats per part-step
    nll_per_part: tuple[float, ...]
    accuracy: float
    steps: int
    step_us_p50: float
    step_us_p99: float


class _Scorer:
    """Accumulates the teacher-forced NLL, accuracy and step times of one model (see score_onnx)."""

    def __init__(self, onnx_path: str | Path) -> None:
        self.path = onnx_path
        self.model = OnnxStepModel.load(onnx_path)
        P = self.model.n_parts
        self.nll = np.zeros(P)
        self.correct = self.steps = 0
        self.times: list[int] = []

    def session(self, seq: StepSequence) -> None:
        model = self.model
        P, V = model.n_parts, model.vocab_size
        noise = np.zeros((P, V), np.float32)
        bias = np.full((P, V), -1e9, np.float32)
        rows = np.arange(P)
        prev_parts = seq.prev_parts
        model.reset()
        keys = heard_keys_for(model, seq)
        for t in range(len(seq)):
            truth = seq.parts[t]
            if keys is not None:
                model.key_probs[...] = keys[t]
            bias.fill(-1e9)
            bias[rows, truth] = 0.0
            start = time.perf_counter_ns()
            tokens = model.step(int(seq.lead[t]), int(seq.prev_lead[t]), prev_parts[t], tuple(seq.position[t]),
                                noise, 1.0, 1.0, bias)
            self.times.append(time.perf_counter_ns() - start)
            if not np.array_equal(tokens, truth):
                raise ModelError(f"{self.path}: forced decoding did not follow the logit bias at step {t}")
            logits = model.last_logits.astype(np.float64)
            top = logits.max(axis=1, keepdims=True)
            logz = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
            self.nll += logz - logits[rows, truth]
            self.correct += int((logits.argmax(axis=1) == truth).sum())
        self.steps += len(seq)

    def result(self) -> OnnxScore:
        P = len(self.nll)
        us = np.array(self.times) / 1000.0
        return OnnxScore(float(self.nll.sum() / (self.steps * P)), tuple(float(x) for x in self.nll / self.steps),
                         self.correct / (self.steps * P), self.steps,
                         float(np.percentile(us, 50)), float(np.percentile(us, 99)))


def score_onnx_files(paths: Sequence[str | Path], sessions: StepSequence | Sequence[StepSequence]) -> list[OnnxScore]:
    """Teacher-forced NLL of the parts and per-step time of ONNX models, through the runtime.

    Each sequence is one session (the state is reset before it); the models take turns session by
    session, so a change in machine load hits them alike. The graph conditions each part on the
    tokens *it chose* for earlier parts; to score the true tokens, the logit bias forbids every token
    but the true one (with zero noise the graph then picks it), while `last_logits` stays the raw,
    unbiased logits that are scored. Equals torch's teacher-forced `forward` NLL (tested).
    """
    if isinstance(sessions, StepSequence):
        sessions = [sessions]
    scorers = [_Scorer(p) for p in paths]
    for seq in sessions:
        for scorer in scorers:
            scorer.session(seq)
    return [s.result() for s in scorers]


def score_onnx(onnx_path: str | Path, sessions: StepSequence | Sequence[StepSequence]) -> OnnxScore:
    """`score_onnx_files` for one model."""
    return score_onnx_files([onnx_path], sessions)[0]
