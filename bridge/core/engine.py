"""The accompaniment core: lead events and grid ticks in, part messages out. No clock, no I/O, no threads.

Time is always passed in (float seconds on one monotonic clock). The live daemon and the offline
renderer drive the same `Engine` the same way:

- `handle(msg, t)` for every input message, stamped with its arrival time;
- `tick(step, t, step_seconds)` at every grid step (16th note), *after* handling the messages
  stamped at or before `t` and *before* those stamped after it.

At a tick the engine answers at once, never waiting for the musician. The lead token for the step
is `onset(p)` if a lead note began within `early_window` before the tick, `hold` if the lead is
sounding, else `unknown` (a note may still come, late). A lead note that arrives within
`late_window` after the tick makes the engine restore the model state from before the step and
answer it again with the real lead and the same noise; only parts whose token changed are
re-voiced. Notes between the windows are recorded as what the lead really did in that step
(`prev_lead` of the next one). docs/timing.md measures what these windows cost and buy.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import mido
import numpy as np

from sideman.bridge.core.harmony import HarmonyStrengths
from sideman.bridge.core.lead import POLICIES, LeadInput
from sideman.bridge.core.listening import Hearing, HeardNow, KeyDoubt, Listener, PitchClassTables
from sideman.bridge.model.contract import Contract
from sideman.bridge.model.sampling import FORBIDDEN, decode_order_indices, gumbel_noise, range_bias
from sideman.bridge.core.voice_leading import NO_PITCH, ParallelGuard, next_pitch
from sideman.bridge.core.voicing import PartVoicer

log = logging.getLogger("sideman.engine")

_MAX_PENDING_ONSETS = 16  # lead onsets kept between two ticks; only the newest ones can matter
# Two times closer than this are the same moment. Float seconds computed two ways (t0 + n * period
# vs ticks * seconds_per_tick) differ in the last bits; without a tolerance a note exactly on the
# grid could fall either side of a tick or of a window edge depending on how its time was computed.
SAME_TIME = 1e-6


def handled_before_tick(msg_t: float, tick_t: float) -> bool:
    """The ordering rule for callers: a message stamped at or before a tick is handled before it."""
    return msg_t <= tick_t + SAME_TIME


class StepModel(Protocol):
    """What the engine needs from a model (sideman.bridge.model.runtime.OnnxStepModel, or a fake in tests).

    A model may also have `pair_bias`, a (P, P, V, V) float32 buffer its graph reads at each step:
    the engine's parallel guard writes into it (bridge/core/voice_leading.py); and `key_probs`, a (24,)
    float32 buffer: the engine writes the key it heard before each step into it (Hearing.key_so_far).
    """

    contract: Contract

    def step(self, lead: int, prev_lead: int, prev_parts: np.ndarray, position: tuple[int, int],
             noise: np.ndarray, temperature: float, top_p: float, logit_bias: np.ndarray) -> np.ndarray: ...
    def snapshot(self) -> Any: ...
    def restore(self, snapshot: Any) -> None: ...
    def reset(self) -> None: ...


@dataclass(frozen=True)
class EngineSettings:
    part_channels: tuple[int, ...]  # 0-based MIDI channels, one per model part (parts order)
    input_channel: int | None = None  # 0-based; None = omni
    lead_policy: str = "highest"  # highest | lowest | latest
    # Defaults chosen in docs/timing.md (test-split melodies with human timing through this engine).
    early_window: float = 0.050  # s before a tick in which a lead onset counts for that tick's step
    late_window: float = 0.050  # s after a tick in which a lead onset makes the engine re-answer that step
    temperature: float = 0.7
    top_p: float = 1.0
    forbid_parallels: bool = True  # bridge/core/voice_leading.py
    part_velocity_scale: tuple[float, ...] = (0.8, 0.8, 0.9)
    seed: int = 0
    muted_parts: tuple[int, ...] = ()  # parts (indices, parts order) that start muted
    harmony: HarmonyStrengths = HarmonyStrengths()  # how firmly parts keep to key, chord and off the tune's clashes
    key_lock: int | None = None  # a key class of the recogniser to keep to, instead of the key it hears
    listen_beats: int = 0  # the parts rest until the tune's first note and this many beats after it, listening
    key_settle_beats: int = 0  # from the tune's first note, the heard key may be a fifth off (bridge/core/listening.py)
    key_close: float = 0.0  # a key at least this share as likely as the heard one is its rival (0: none)

    def validate(self, n_parts: int) -> None:
        """Raise ValueError naming the first bad field."""
        if len(self.part_channels) != n_parts:
            raise ValueError(f"part_channels has {len(self.part_channels)} channels for {n_parts} parts")
        if len(set(self.part_channels)) != n_parts or not all(0 <= c <= 15 for c in self.part_channels):
            raise ValueError(f"part_channels must be distinct 0-based channels 0..15, got {self.part_channels}")
        if self.input_channel is not None and not 0 <= self.input_channel <= 15:
            raise ValueError(f"input_channel must be 0..15 or None, got {self.input_channel}")
        if self.lead_policy not in POLICIES:
            raise ValueError(f"lead_policy must be one of {', '.join(POLICIES)}, got {self.lead_policy!r}")
        if not (0.0 <= self.early_window < 1.0 and 0.0 <= self.late_window < 1.0):
            raise ValueError("early_window and late_window must be in [0, 1) seconds")
        if not self.temperature > 0.0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if len(self.part_velocity_scale) != n_parts or not all(s >= 0 for s in self.part_velocity_scale):
            raise ValueError(f"part_velocity_scale needs {n_parts} factors >= 0, got {self.part_velocity_scale}")
        if not all(0 <= k < n_parts for k in self.muted_parts):
            raise ValueError(f"muted_parts must be part indices 0..{n_parts - 1}, got {self.muted_parts}")
        if self.listen_beats < 0 or min(self.harmony.key, self.harmony.chord, self.harmony.clash) < 0:
            raise ValueError("listen_beats and the harmony strengths must be >= 0")
        if self.key_settle_beats < 0 or not 0.0 <= self.key_close <= 1.0:
            raise ValueError(f"key_settle_beats must be >= 0 and key_close in [0, 1], got {self.key_settle_beats}, {self.key_close}")


@dataclass(frozen=True)
class StepInfo:
    """What the model was told and answered at one step (for the offline renderer, tests and logs)."""

    step: int
    lead: int  # the lead token of the latest answer (onset after a late re-answer)
    prev_lead: int
    tokens: tuple[int, ...] | None  # None if the model faulted at this step
    reanswers: int


@dataclass(frozen=True)
class _Plan:
    """What tick(t) would feed the model, worked out from the engine's state without changing it."""

    lead: int
    prev_lead: int
    in_parts: tuple[int, ...]
    pitch_prev: tuple[int, ...]
    lead_pitch_prev: int
    seen_id: int




class Engine:
    def __init__(self, model: StepModel, settings: EngineSettings, listener: Listener | None = None,
                 tables: PitchClassTables | None = None) -> None:
        """`listener`: the key/chord recogniser the engine steps with what the player plays (None: it hears only
        the tune note and a locked key); `tables`: the pitch classes of the listener's key and chord classes."""
        contract = model.contract
        n_parts = len(contract.parts)
        settings.validate(n_parts)
        self.model = model
        self.settings = settings
        self.contract = contract
        self.vocab = vocab = contract.vocab
        self._spb = contract.steps_per_beat
        self._max_beat = contract.max_beats_in_bar - 1
        self._lead = LeadInput(contract.lead.low, contract.lead.high, settings.lead_policy, settings.input_channel)
        self._voicer = PartVoicer(vocab, settings.part_channels)
        for part in settings.muted_parts:
            self._voicer.muted[part] = True
        self._rng = np.random.default_rng(settings.seed)
        self._temperature = float(settings.temperature)
        # Buffers reused every tick: the model copies them into its own bound inputs, so nothing
        # per step needs a fresh array (the live loop runs ~10 steps a second for hours).
        self._noise = np.zeros((n_parts, vocab.size), np.float32)
        self._bias = range_bias(contract)
        self._allowed = self._bias > FORBIDDEN / 2  # (P, V) which tokens each part may produce
        self._rows = np.arange(n_parts)
        # The parallel-fifths/octaves guard writes the model's pair_bias buffer in place (if the graph
        # has one) and adds its lead part to a copy of the range bias for the step.
        self._guard = ParallelGuard(vocab, n_parts, decode_order_indices(contract),
                                    pair_bias=getattr(model, "pair_bias", None))
        self._step_bias = self._bias.copy()
        self._hearing = Hearing(listener, tables, vocab, n_parts, settings.harmony, self._spb, settings.key_lock,
                                settings.listen_beats * self._spb,
                                KeyDoubt(settings.key_settle_beats * self._spb, settings.key_close))
        self._heard_bias: np.ndarray | None = None  # the hearing's bias of the current step
        self._model_key: np.ndarray | None = getattr(model, "key_probs", None)  # the graph's key input, if any
        self._full_bias = self._bias.copy()
        self._pitch_prev = np.full(n_parts, NO_PITCH, np.int64)  # parts' pitches sounding at step t-1
        self._lead_pitch_prev = NO_PITCH
        self._in_parts = np.full(n_parts, vocab.rest, np.int64)  # prev_parts input of the current step
        self._tokens = np.full(n_parts, vocab.rest, np.int64)  # answer of the current step
        self._answer = np.empty(n_parts, np.int64)  # scratch for a re-answer before comparing
        self._onsets: deque[tuple[int, float, int]] = deque(maxlen=_MAX_PENDING_ONSETS)  # (pitch, t, note_id)
        self.fault: str | None = None
        self._logged_fault: str | None = None
        self.reanswer_count = 0  # late-window re-answers
        self.revoiced_count = 0  # parts whose token a re-answer changed (what a listener can hear)
        self.step_count = 0
        self._velocities = [1] * n_parts
        self._update_velocities()
        self._forget_history()

    # -- state helpers ------------------------------------------------------------------------------
    def _forget_history(self) -> None:
        """The model starts from nothing: no previous step, parts resting."""
        self._has_prev = False
        self._step_ok = False  # the current step was answered and may still be re-answered
        self._step = -1
        self._fed = self.vocab.rest
        self._prev_lead = self.vocab.rest
        self._truth = self.vocab.rest  # what the lead really was at the current step
        self._seen_id = -1  # note_id of the lead note the model knows about
        self._snap: Any = None
        self._tick_t = 0.0
        self._step_seconds = 0.0
        self._step_reanswers = 0
        self._position_now = (0, 0)
        self._in_parts.fill(self.vocab.rest)
        self._tokens.fill(self.vocab.rest)
        self._pitch_prev.fill(NO_PITCH)
        self._lead_pitch_prev = NO_PITCH
        self._onsets.clear()
        self._voicer.forget_lines()

    def _update_velocities(self) -> None:
        v = self._lead.velocity
        for k, scale in enumerate(self.settings.part_velocity_scale):
            self._velocities[k] = min(127, max(1, int(round(v * scale))))

    def _position(self, step: int, beats_per_bar: int) -> tuple[int, int]:
        beats = max(1, beats_per_bar)
        return step % self._spb, min((step // self._spb) % beats, self._max_beat)

    def _bad_token(self, tokens: np.ndarray) -> str | None:
        """Why `tokens` is not a valid answer, or None."""
        n = len(self._rows)
        if not isinstance(tokens, np.ndarray) or tokens.shape != (n,) or tokens.dtype.kind not in "iu":
            return (f"model returned {type(tokens).__name__} {getattr(tokens, 'dtype', '')} of shape "
                    f"{getattr(tokens, 'shape', '?')}, expected ({n},) integer tokens")
        size = self.vocab.size
        if tokens.min() < 0 or tokens.max() >= size:  # scalar reductions: no temporary arrays per tick
            return f"model returned token(s) {tokens.tolist()} outside the vocabulary [0, {size})"
        for k in range(n):
            if not self._allowed[k, tokens[k]]:
                name = self.contract.parts[k].name
                return f"model returned {self.vocab.describe(int(tokens[k]))} for {name}, which that part may not play"
        return None

    def _fail(self, reason: str) -> list[mido.Message]:
        """A model fault: silence, remember it (log once), start the model afresh at the next tick."""
        self.fault = reason
        if reason != self._logged_fault:
            log.warning("model fault: %s; parts silenced, model reset", reason)
            self._logged_fault = reason
        out = self._voicer.silence()
        try:
            self.model.reset()
        except Exception as exc:  # noqa: BLE001 - a broken model must not take the engine down
            self.fault = f"{reason}; reset failed too ({exc})"
        self._forget_history()
        return out

    def _guard_lead(self, lead: int, pitch_prev: np.ndarray, lead_pitch_prev: int) -> np.ndarray:
        """The step's logit bias: the range bias, plus the guard's ban on moving in parallel with the lead."""
        if not self.settings.forbid_parallels or lead == self.vocab.unknown:
            return self._bias
        lead_now = next_pitch(lead_pitch_prev, lead, self.vocab)
        if not self._guard.update_lead(pitch_prev, lead_pitch_prev, lead_now):
            return self._bias
        np.add(self._bias, self._guard.lead_bias, out=self._step_bias)
        return self._step_bias

    def _run_model(self, lead: int, position: tuple[int, int], prev_lead: int | None = None,
                   in_parts: np.ndarray | None = None, pitch_prev: np.ndarray | None = None,
                   lead_pitch_prev: int | None = None, noise: np.ndarray | None = None) -> str | None:
        """One model step into self._answer (inputs default to the current step's); the reason on a fault."""
        prev_lead = self._prev_lead if prev_lead is None else prev_lead
        in_parts = self._in_parts if in_parts is None else in_parts
        pitch_prev = self._pitch_prev if pitch_prev is None else pitch_prev
        lead_pitch_prev = self._lead_pitch_prev if lead_pitch_prev is None else lead_pitch_prev
        if self.settings.forbid_parallels:
            self._guard.update_pairs(pitch_prev)
        bias = self._guard_lead(lead, pitch_prev, lead_pitch_prev)
        if self._heard_bias is not None:
            np.add(bias, self._heard_bias, out=self._full_bias)
            bias = self._full_bias
        try:
            tokens = self.model.step(lead, prev_lead, in_parts, position, self._noise if noise is None else noise,
                                     self._temperature, self.settings.top_p, bias)
        except Exception as exc:  # noqa: BLE001 - any model failure is a fault, not a crash
            return f"model step failed: {type(exc).__name__}: {exc}"
        bad = self._bad_token(tokens)
        if bad is None:
            np.copyto(self._answer, tokens)  # the model may hand back its own reused buffer
        return bad

    # -- the API ------------------------------------------------------------------------------------
    def handle(self, msg: mido.Message, t: float) -> list[mido.Message]:
        """One input message stamped `t`. Returns part messages to send now (from a late-window re-answer).

        A lead onset stamped at most `late_window` after the last tick re-answers that step. (So does
        one stamped *before* the tick but handled after it, which only happens if the caller breaks
        the ordering rule of `handled_before_tick`: re-answering is the best repair left.)
        """
        onset = self._lead.handle(msg)
        if msg.type == "note_on" and msg.velocity > 0:
            self._update_velocities()
            if self._lead.listens_to(msg.channel):
                self._hearing.struck(msg.note)
        if onset is None:
            return []
        dt = t - self._tick_t
        if self._step_ok and dt <= self.settings.late_window + SAME_TIME:
            to_next = self._step_seconds - dt
            # Overlapping windows (fast tempo, wide windows): the nearer tick wins.
            if not (to_next <= self.settings.early_window + SAME_TIME and to_next < dt):
                return self._reanswer(onset.pitch, onset.note_id)
        self._onsets.append((onset.pitch, t, onset.note_id))
        return []

    def _reanswer(self, pitch: int, note_id: int) -> list[mido.Message]:
        lead = self.vocab.onset(pitch)
        self._truth = lead
        self._seen_id = note_id
        if lead == self._fed:
            return []
        self._fed = lead
        self._heard_bias = self._hear_bias(lead)
        try:
            self.model.restore(self._snap)
        except Exception as exc:  # noqa: BLE001
            return self._fail(f"model restore failed: {type(exc).__name__}: {exc}")
        bad = self._run_model(lead, self._position_now)
        if bad is not None:
            return self._fail(bad)
        self.reanswer_count += 1
        self.revoiced_count += int(np.count_nonzero(self._tokens != self._answer))
        self._step_reanswers += 1
        out = self._voicer.revoice(self._tokens, self._answer, self._velocities)
        np.copyto(self._tokens, self._answer)
        return out

    def _plan(self, t: float) -> _Plan:
        """The model inputs of a tick at `t`, from the onsets so far; changes nothing."""
        vocab = self.vocab
        early_from = t - self.settings.early_window - SAME_TIME
        # Sort the onsets since the last tick: the newest early one is this step's lead; the newest
        # one before the early window is what the lead really did during the previous step.
        early = offgrid = None
        for entry in reversed(self._onsets):
            if entry[1] >= early_from:
                if early is None:
                    early = entry
            else:
                offgrid = entry
                break
        seen_id = self._seen_id
        if self._has_prev:
            truth = self._truth
            if offgrid is not None:
                truth = vocab.onset(offgrid[0])
                seen_id = offgrid[2]
            prev_lead = truth
            in_parts = tuple(int(x) for x in self._tokens)
            pitch_prev = tuple(next_pitch(int(p), k, vocab) for p, k in zip(self._pitch_prev, in_parts))
            lead_pitch_prev = next_pitch(self._lead_pitch_prev, prev_lead, vocab)
        else:
            prev_lead = vocab.rest
            in_parts = tuple(int(x) for x in self._in_parts)
            pitch_prev = tuple(int(x) for x in self._pitch_prev)
            lead_pitch_prev = self._lead_pitch_prev
        if early is not None:
            lead = vocab.onset(early[0])
            seen_id = early[2]
        elif self._lead.pitch is not None:
            # Hold only if the model has seen this note begin (not so right after a reset).
            lead = vocab.hold if self._lead.note_id == seen_id else vocab.onset(self._lead.pitch)
            seen_id = self._lead.note_id
        else:
            lead = vocab.unknown
        return _Plan(lead, prev_lead, in_parts, pitch_prev, lead_pitch_prev, seen_id)

    def tick(self, step: int, t: float, step_seconds: float, beats_per_bar: int = 4) -> list[mido.Message]:
        """Answer grid step `step` (16ths since song start) at time `t`; `step_seconds` = time to the next tick."""
        self._position_now = self._position(step, beats_per_bar)
        plan = self._plan(t)
        self._advance(step, t, step_seconds, plan)
        self._draw_noise()
        self._feed_key()
        if self._hearing.active:
            self._hearing.hear(step, self._lead.keys_down)
        self._heard_bias = self._hear_bias(plan.lead)
        # A re-answer needs the state from before the step: inside the late window, and even with no late
        # window for a note stamped at the tick itself but handled after it (see handle()).
        self._snap = self.model.snapshot()
        bad = self._run_model(plan.lead, self._position_now)
        if bad is not None:
            return self._fail(bad)
        return self._sound()

    def _advance(self, step: int, t: float, step_seconds: float, plan: _Plan) -> None:
        """Move the engine's state to step `step`, whose model inputs are `plan`."""
        vocab = self.vocab
        self._onsets.clear()
        if self._has_prev:
            self._prev_lead = plan.prev_lead
            np.copyto(self._in_parts, self._tokens)
            self._pitch_prev[:] = plan.pitch_prev
            self._lead_pitch_prev = plan.lead_pitch_prev
        else:
            self._prev_lead = vocab.rest
        self._seen_id = plan.seen_id
        self._fed = plan.lead
        self._truth = vocab.rest if plan.lead == vocab.unknown else plan.lead
        self._step = step
        self._tick_t = t
        self._step_seconds = step_seconds
        self._step_reanswers = 0
        self.step_count += 1

    def _feed_key(self) -> None:
        """A model with a key input reads the key heard before the step, as in its training (models/heard_key.py)."""
        if self._model_key is not None:
            self._hearing.key_so_far(self._model_key)

    def _draw_noise(self) -> None:
        gumbel_noise(self._rng, self._noise.shape, out=self._noise)  # one draw per step, kept for a late re-answer

    def _sound(self) -> list[mido.Message]:
        """The step's answer (in self._answer) becomes what the parts play."""
        self.fault = None
        self._has_prev = True
        self._step_ok = True
        np.copyto(self._tokens, self._answer)
        return self._voicer.apply(self._tokens, self._velocities)

    def _hear_bias(self, lead: int) -> np.ndarray | None:
        """The hearing's bias for a step whose lead token is `lead` (None: it changes nothing)."""
        vocab = self.vocab
        tune = vocab.pitch(lead) if vocab.is_onset(lead) else self._lead.pitch if lead == vocab.hold else None
        return self._hearing.bias(tune, self._voicer.sounding)

    @property
    def heard(self) -> HeardNow:
        """The key and chord heard at the current step (for the status line and `sideman listen`)."""
        return self._hearing.now

    def freeze_key(self, on: bool) -> None:
        """Keep to the key heard now (on), or follow what is heard again (off)."""
        self._hearing.freeze(on)

    @property
    def last_step(self) -> StepInfo | None:
        """The current step as finally answered so far; None before the first tick or after a fault/reset."""
        if not self._has_prev:
            return None
        return StepInfo(self._step, int(self._fed), int(self._prev_lead), tuple(int(x) for x in self._tokens),
                        self._step_reanswers)

    @property
    def sounding(self) -> dict[int, int]:
        """Part index -> the pitch it has sounding now."""
        return {k: p for k, p in enumerate(self._voicer.sounding) if p is not None}

    @property
    def temperature(self) -> float:
        return self._temperature

    @property
    def enabled(self) -> bool:
        return self._voicer.enabled

    def muted(self, part: int) -> bool:
        return self._voicer.muted[part]

    def set_temperature(self, value: float) -> None:
        if not value > 0.0:
            raise ValueError(f"temperature must be > 0, got {value}")
        self._temperature = float(value)

    def set_enabled(self, enabled: bool) -> list[mido.Message]:
        """Accompaniment on/off. Off silences now; the model keeps stepping; parts return at their next onset."""
        self._voicer.enabled = bool(enabled)
        return [] if enabled else self._voicer.silence()

    def set_muted(self, part: int, muted: bool) -> list[mido.Message]:
        if not 0 <= part < len(self._rows):
            raise ValueError(f"no part {part} (the model has {len(self._rows)})")
        self._voicer.muted[part] = bool(muted)
        return self._voicer.silence([part]) if muted else []

    def panic(self) -> list[mido.Message]:
        """Note-offs for everything, All Notes Off on the part channels, and forget held input keys."""
        self._lead.clear()
        return self._voicer.silence() + self._voicer.all_notes_off()

    def stop(self) -> list[mido.Message]:
        """Transport stopped: note-offs for everything sounding. The model keeps its state (Continue)."""
        self._step_ok = False  # no re-answer of a step after the music stopped
        return self._voicer.silence()

    def reset(self) -> None:
        """Back to the start of a song (DAW Start / Song Position): model state and lead history.

        Sends nothing itself (call stop() first to silence); a part still sounding ends at the next tick.
        """
        try:
            self.model.reset()
        except Exception as exc:  # noqa: BLE001
            self.fault = f"model reset failed: {type(exc).__name__}: {exc}"
        self._hearing.reset()
        self._forget_history()
