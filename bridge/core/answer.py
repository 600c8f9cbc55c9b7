"""Call and response: the player plays a phrase, pauses, and Sideman answers it. Pure logic — time is passed in.

The `Answerer` hears every note the player plays (`hear`), and at each grid tick (`tick`) checks for a pause:
no key held for max(`min_pause`, one beat) since the last note ended, or an answer asked for by a control
(`request`). At that tick it does all the work: the call (the notes since the last answer, at most
`max_steps` of them) is put on the grid, moved by octaves into the model's range, and stepped through
the melody model, pause included; then the model samples the answer, as many steps as the call lasted
(whole beats), each onset outside the call's key costing `key_strength` in the logits and each onset that
completes one of the call's four-note contours gaining `motif_strength`. From that tick on, each tick only
sends the answer's next note, on its own channel, in the call's register.

The answerer owns its notes: at most one sounds, and a player's note-on, `stop()` and `set_enabled(False)`
all return its note-off at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import mido
import numpy as np

from sideman.bridge.core.harmony import key_pitch_classes
from sideman.bridge.core.key_profiles import KEY_TEMPLATES
from sideman.bridge.midi import PERCUSSION_CHANNEL
from sideman.bridge.model.contract import Vocab
from sideman.bridge.model.melody import fold, melody_tokens, octave_shift

REST, HOLD = -1, -2  # a plan's steps: a MIDI pitch to strike, or one of these
KEPT_NOTES = 256  # notes of a call kept (a player who never pauses must not grow it without end)


class MelodyStepper(Protocol):
    """What the answerer needs from a model (sideman.bridge.model.melody.MelodyModel, or a fake in tests)."""

    @property
    def contract(self): ...  # .vocab, .steps_per_beat
    def step(self, prev: int, phase: int) -> np.ndarray: ...
    def reset(self) -> None: ...


@dataclass(frozen=True)
class AnswerSettings:
    channel: int = 4  # 0-based MIDI channel of the answers
    input_channel: int | None = None  # 0-based channel of the player; None = any but the drums'
    min_pause: float = 0.6  # s: a pause is at least this, and at least one beat
    max_steps: int = 64  # the longest call heard and answer played (16ths)
    # Chosen on the valid tunes (docs/call-and-response.md).
    temperature: float = 0.8
    key_strength: float = 4.0  # logit cost of an onset outside the call's key
    motif_strength: float = 4.0  # logit bonus of an onset that makes one of the call's four-note contours
    velocity_scale: float = 0.9  # of the call's mean velocity
    seed: int = 0


def contours(pitches: list[int]) -> dict[tuple[int, int], set[int]]:
    """The call's interval 3-grams (four-note contours, any transposition) by their first two intervals."""
    iv = [b - a for a, b in zip(pitches, pitches[1:])]
    out: dict[tuple[int, int], set[int]] = {}
    for a, b, c in zip(iv, iv[1:], iv[2:]):
        out.setdefault((a, b), set()).add(c)
    return out


def call_key(pitches: list[int], weights: list[float]) -> np.ndarray:
    """[12] 1.0 for the pitch classes of the key a call's notes fit best (Krumhansl-Kessler profiles)."""
    hist = np.zeros(12, np.float32)
    for p, w in zip(pitches, weights):
        hist[p % 12] += w
    hist -= hist.mean()
    key = int(np.argmax(KEY_TEMPLATES @ hist))
    return key_pitch_classes(key % 12, key >= 12)


class Answerer:
    def __init__(self, model: MelodyStepper, settings: AnswerSettings = AnswerSettings(), enabled: bool = True) -> None:
        self.model, self.settings, self.enabled = model, settings, enabled
        self.vocab: Vocab = model.contract.vocab
        self.spb = int(model.contract.steps_per_beat)
        self._rng = np.random.default_rng(settings.seed)
        self._call: list[list[float]] = []  # [pitch, on_t, off_t (nan while held), velocity]
        self._held: dict[tuple[int, int], int] = {}  # (channel, pitch) -> index in _call
        self._last_off = -math.inf
        self._requested = False
        self._plan: list[int] = []  # the answer's steps still to play, one per tick: a pitch, REST or HOLD
        self._sounding: int | None = None
        self._velocity = 64
        self.answers = 0  # answers started (for tests and the status line)
        v = self.vocab
        self._onset_pc = np.array([(v.pitch(k) % 12) if v.is_onset(k) else -1 for k in range(v.size)])

    # -- what the player does ---------------------------------------------------------------------
    def listens(self, channel: int) -> bool:
        c = self.settings.input_channel
        return channel != PERCUSSION_CHANNEL if c is None else channel == c

    def hear(self, msg: mido.Message, t: float) -> list[mido.Message]:
        """One input message stamped `t`; a note-on ends an answer at once (its note-off is returned)."""
        if msg.type not in ("note_on", "note_off") or not self.listens(msg.channel):
            return []
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            out = self._end_answer()
            if len(self._call) >= 2 * KEPT_NOTES:
                self._keep_last(KEPT_NOTES)
            self._held[key] = len(self._call)
            self._call.append([msg.note, t, math.nan, msg.velocity])
            return out
        index = self._held.pop(key, None)
        if index is not None:
            self._call[index][2] = t
            self._last_off = t
        return []

    def request(self) -> None:
        """Answer at the next tick, pause or not (the answer control)."""
        self._requested = True

    # -- the grid ---------------------------------------------------------------------------------
    def tick(self, step: int, t: float, step_seconds: float) -> list[mido.Message]:
        """Grid step `step` at `t`: start an answer if the call has ended here, then play the answer's next step."""
        if self.enabled and not self._plan and self._call and self._call_ended(t, step_seconds):
            self._start_answer(step, t, step_seconds)
        return self._play_next()

    @property
    def answering(self) -> bool:
        """An answer is under way (its notes still to come or sounding)."""
        return bool(self._plan) or self._sounding is not None

    @property
    def pending(self) -> bool:
        """An answer is under way, or a call waits for its pause."""
        return self.answering or (self.enabled and bool(self._call))

    def stop(self, forget: bool = False) -> list[mido.Message]:
        """The music stopped or started afresh: the answer's note-off. `forget` (panic): the call too, and the
        keys thought held."""
        if forget:
            self._call.clear()
            self._held.clear()
            self._requested = False
        return self._end_answer()

    def set_enabled(self, enabled: bool) -> list[mido.Message]:
        """Answer mode on (the next phrase played is the first call) or off (an answer ends now)."""
        if enabled and not self.enabled:
            self._keep_last(0)
        self.enabled = bool(enabled)
        return [] if enabled else self._end_answer()

    # -- inside -----------------------------------------------------------------------------------
    def _keep_last(self, n: int) -> None:
        """Forget all but the call's last `n` notes (keys still held stay held)."""
        drop = max(0, len(self._call) - n)
        self._call = self._call[drop:]
        self._held = {key: i - drop for key, i in self._held.items() if i >= drop}

    def _call_ended(self, t: float, step_seconds: float) -> bool:
        if self._requested:
            return True
        pause = max(self.settings.min_pause, self.spb * step_seconds)
        return not self._held and t - self._last_off >= pause - 1e-6

    def _end_answer(self) -> list[mido.Message]:
        self._plan.clear()
        return self._note_off()

    def _note_off(self) -> list[mido.Message]:
        if self._sounding is None:
            return []
        note, self._sounding = self._sounding, None
        return [mido.Message("note_off", channel=self.settings.channel, note=note, velocity=0)]

    def _play_next(self) -> list[mido.Message]:
        if not self._plan:
            return self._note_off()
        what = self._plan.pop(0)
        if what == HOLD and self._sounding is not None:
            return []
        out = self._note_off()
        if what >= 0:
            out.append(mido.Message("note_on", channel=self.settings.channel, note=what, velocity=self._velocity))
            self._sounding = what
        return out

    def _call_grid(self, step: int, t: float, step_seconds: float) -> tuple[list[tuple[int, int, int]], int, int]:
        """The call's notes as (start, end, pitch) steps from its first onset, its length, and the grid step it began."""
        limit = self.settings.max_steps
        rel = []
        for pitch, on, off, _ in self._call:
            end = t if math.isnan(off) else off
            a = round((on - t) / step_seconds)  # steps before this tick (<= 0)
            b = max(a + 1, round((end - t) / step_seconds))
            rel.append((a, min(b, 0), int(pitch)))
        first = max(min(a for a, _, _ in rel), -limit)
        notes = [(a - first, b - first, p) for a, b, p in rel if a >= first and b > a]
        length = max(b for _, b, _ in notes) if notes else 0
        return notes, length, step + first

    def _start_answer(self, step: int, t: float, step_seconds: float) -> None:
        self._requested = False
        notes, length, begin = self._call_grid(step, t, step_seconds)
        velocities = [c[3] for c in self._call]
        self._call.clear()
        self._held.clear()
        if not notes:
            return
        s = self.settings
        self._velocity = max(1, min(127, int(round(np.mean(velocities) * s.velocity_scale))))
        shift = octave_shift([p for _, _, p in notes], self.vocab)
        folded = [(a, b, fold(p + shift, self.vocab)) for a, b, p in notes]
        primer = melody_tokens(folded, step - begin, self.vocab)  # the call and the pause, up to this tick
        in_key = call_key([p for _, _, p in notes], [b - a for a, b, _ in notes])
        bias = np.where(self._onset_pc >= 0, (in_key[self._onset_pc % 12] - 1.0) * s.key_strength, 0.0).astype(np.float32)
        n = min(s.max_steps, max(self.spb, self.spb * math.ceil(length / self.spb)))
        tokens = self._sample(primer, begin, n, bias, contours([p for _, _, p in folded]))
        v = self.vocab
        self._plan = [min(127, max(0, v.pitch(k) - shift)) if v.is_onset(k) else HOLD if k == v.hold else REST
                      for k in tokens]
        self.answers += 1

    def _sample(self, primer: np.ndarray, begin: int, n: int, bias: np.ndarray,
                motifs: dict[tuple[int, int], set[int]]) -> list[int]:
        """Step the model through the primer (steps from grid step `begin`), then sample n tokens; an onset that
        ends one of `motifs` after the answer's last three onsets gains motif_strength."""
        v, model, s = self.vocab, self.model, self.settings
        struck: list[int] = []  # the answer's onsets so far (pitches)
        model.reset()
        prev = v.rest
        for i, token in enumerate(primer):
            model.step(prev, (begin + i) % self.spb)
            prev = int(token)
        out = []
        start = begin + len(primer)
        for i in range(n):
            logits = model.step(prev, (start + i) % self.spb) / s.temperature + bias
            if s.motif_strength and len(struck) >= 3:
                for c in motifs.get((struck[-2] - struck[-3], struck[-1] - struck[-2]), ()):
                    if v.pitch_min <= struck[-1] + c <= v.pitch_max:
                        logits[v.onset(struck[-1] + c)] += s.motif_strength
            logits[v.unknown] = -np.inf
            if i == 0 or prev == v.rest:
                logits[v.hold] = -np.inf  # a hold needs a note sounding
            if i == 0:
                logits[v.rest] = -np.inf  # the answer starts at once
            p = np.exp(logits - logits.max())
            cdf = np.cumsum(p)
            token = min(int(np.searchsorted(cdf, self._rng.random() * cdf[-1], side="right")), len(p) - 1)
            out.append(token)
            if v.is_onset(token):
                struck.append(v.pitch(token))
            prev = token
        return out
