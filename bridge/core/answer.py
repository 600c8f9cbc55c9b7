"""Call and response: the player plays a phrase, pauses, and Sideman answers it. Pure logic — time is passed in.

The `Answerer` hears every note the player plays (`hear`), and at each grid tick (`tick`) steps the melody
model through the call so far, one grid step (`bridge/core/call_primer.py`), and checks for a pause: no key
held for max(`min_pause`, one beat) since the last note ended, or an answer asked for by a control
(`request`). At that tick the model has heard the call (the notes since the last answer) and the pause; the
call's last `max_steps` decide the octave shift into the model's range, the key and the answer's length (as
many steps as the call lasted, whole beats). From that tick on, each tick samples and sends the answer's
next step, on its own channel, in the call's register: each onset outside the call's key costs
`key_strength` in the logits and each onset that completes one of the call's four-note contours gains
`motif_strength`. No tick runs more than a few model steps.

The answerer owns its notes: at most one sounds, and a player's note-on, `stop()` and `set_enabled(False)`
all return its note-off at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import mido
import numpy as np

from sideman.bridge.core.call_primer import HOLD, REST, CallPrimer, MelodyStepper, Note
from sideman.bridge.core.harmony import key_pitch_classes
from sideman.bridge.core.key_profiles import KEY_TEMPLATES
from sideman.bridge.midi import PERCUSSION_CHANNEL
from sideman.bridge.model.contract import Vocab
from sideman.bridge.model.melody import fold, octave_shift

KEPT_NOTES = 256  # notes of a call kept (a player who never pauses must not grow it without end)


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


class AnswerSampler:
    """An answer sampled a step per call, from the model primed with its call: the key bias and the motif bonus
    on each step's logits, a uniform drawn in advance for each step (so an answer cut short leaves the random
    stream where a whole one would)."""

    def __init__(self, model: MelodyStepper, settings: AnswerSettings, first_logits: np.ndarray, start: int,
                 uniforms: np.ndarray, bias: np.ndarray, motifs: dict[tuple[int, int], set[int]], shift: int) -> None:
        self.model, self.settings, self.vocab = model, settings, model.contract.vocab
        self.spb = int(model.contract.steps_per_beat)
        self._first, self._start, self._uniforms, self._bias, self._motifs = first_logits, start, uniforms, bias, motifs
        self.shift = shift
        self._struck: list[int] = []  # the answer's onsets so far (model pitches)
        self._prev = self.vocab.rest
        self.index = 0

    @property
    def left(self) -> int:
        return len(self._uniforms) - self.index

    def next_token(self) -> int:
        """The answer's next token (the first from the primed logits, each later one a model step)."""
        v, s, i = self.vocab, self.settings, self.index
        raw = self._first if i == 0 else self.model.step(self._prev, (self._start + i) % self.spb)
        logits = raw / s.temperature + self._bias
        struck = self._struck
        if s.motif_strength and len(struck) >= 3:
            for c in self._motifs.get((struck[-2] - struck[-3], struck[-1] - struck[-2]), ()):
                if v.pitch_min <= struck[-1] + c <= v.pitch_max:
                    logits[v.onset(struck[-1] + c)] += s.motif_strength
        logits[v.unknown] = -np.inf
        if i == 0 or self._prev == v.rest:
            logits[v.hold] = -np.inf  # a hold needs a note sounding
        if i == 0:
            logits[v.rest] = -np.inf  # the answer starts at once
        p = np.exp(logits - logits.max())
        cdf = np.cumsum(p)
        token = min(int(np.searchsorted(cdf, self._uniforms[i] * cdf[-1], side="right")), len(p) - 1)
        if v.is_onset(token):
            struck.append(v.pitch(token))
        self._prev, self.index = token, i + 1
        return token

    def next_step(self) -> int:
        """The answer's next step as played: a MIDI pitch in the call's register, REST or HOLD."""
        v, k = self.vocab, self.next_token()
        return min(127, max(0, v.pitch(k) - self.shift)) if v.is_onset(k) else HOLD if k == v.hold else REST


@lru_cache(maxsize=8)
def onset_pitch_classes(vocab: Vocab) -> np.ndarray:
    """[V] each token's pitch class if it is an onset, else -1."""
    return np.array([(vocab.pitch(k) % 12) if vocab.is_onset(k) else -1 for k in range(vocab.size)])


def answer_for(model: MelodyStepper, settings: AnswerSettings, notes: list[tuple[int, int, int]], logits: np.ndarray,
               shift: int, step: int, rng: np.random.Generator) -> AnswerSampler:
    """The answer to a call on the grid (`notes`: (start, end, pitch) steps from its first onset), from the model
    primed with it, the call moved by `shift` into its range: `logits` are grid step `step`'s, the model's state
    the one after them."""
    v, spb = model.contract.vocab, int(model.contract.steps_per_beat)
    in_key = call_key([p for _, _, p in notes], [b - a for a, b, _ in notes])
    pcs = onset_pitch_classes(v)
    bias = np.where(pcs >= 0, (in_key[pcs % 12] - 1.0) * settings.key_strength, 0.0).astype(np.float32)
    length = max(b for _, b, _ in notes)
    n = min(settings.max_steps, max(spb, spb * math.ceil(length / spb)))
    motifs = contours([fold(p + shift, v) for _, _, p in notes])
    return AnswerSampler(model, settings, logits, step, rng.random(n), bias, motifs, shift)


class Answerer:
    def __init__(self, model: MelodyStepper, settings: AnswerSettings = AnswerSettings(), enabled: bool = True) -> None:
        self.model, self.settings, self.enabled = model, settings, enabled
        self.vocab: Vocab = model.contract.vocab
        self.spb = int(model.contract.steps_per_beat)
        self._rng = np.random.default_rng(settings.seed)
        self._call: list[Note] = []
        self._held: dict[tuple[int, int], Note] = {}  # (channel, pitch) -> its note of the call
        self._unplaced: list[Note] = []  # notes struck or released since the last tick
        self._primer = CallPrimer(model, settings.max_steps)
        self._last_step: int | None = None
        self._last_off = -math.inf
        self._requested = False
        self._answer: AnswerSampler | None = None  # the answer under way, a step per tick
        self._sounding: int | None = None
        self._velocity = 64
        self.answers = 0  # answers started (for tests and the status line)

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
            note = self._held[key] = Note(msg.note, t, msg.velocity)
            self._call.append(note)
            self._unplaced.append(note)
            return out
        note = self._held.pop(key, None)
        if note is not None:
            note.off = self._last_off = t
            self._unplaced.append(note)
        return []

    def request(self) -> None:
        """Answer at the next tick, pause or not (the answer control)."""
        self._requested = True

    # -- the grid ---------------------------------------------------------------------------------
    def tick(self, step: int, t: float, step_seconds: float) -> list[mido.Message]:
        """Grid step `step` at `t`: step the model through the call so far; start an answer if the call has ended
        here and the model has heard all of it; then play the answer's next step."""
        jumped = self._last_step is None or step != self._last_step + 1
        self._last_step = step
        if self.enabled and self._answer is None:
            self._place(step, t, step_seconds, jumped)
            ended = bool(self._call) and self._call_ended(t, step_seconds)
            if ended and self._primer.streams > 1:
                self._primer.narrow(self._shift(self._call_grid(step)))  # the rest of the call is known
            self._primer.advance(step)
            if ended and self._primer.primed(step):
                self._start_answer(step)
        else:
            self._unplaced.clear()
        return self._play_next()

    @property
    def answering(self) -> bool:
        """An answer is under way (its notes still to come or sounding)."""
        return self._answer is not None or self._sounding is not None

    @property
    def pending(self) -> bool:
        """An answer is under way, or a call waits for its pause."""
        return self.answering or (self.enabled and bool(self._call))

    def stop(self, forget: bool = False) -> list[mido.Message]:
        """The music stopped or started afresh: the answer's note-off. `forget` (panic): the call too, and the
        keys thought held."""
        if forget:
            self._keep_last(0)
            self._requested = False
        return self._end_answer()

    def set_enabled(self, enabled: bool) -> list[mido.Message]:
        """Answer mode on (the next phrase played is the first call) or off (an answer ends now)."""
        if enabled and not self.enabled:
            self._keep_last(0)
        self.enabled = bool(enabled)
        if not enabled:
            self._primer.stop()
        return [] if enabled else self._end_answer()

    # -- inside -----------------------------------------------------------------------------------
    def _keep_last(self, n: int) -> None:
        """Forget all but the call's last `n` notes (keys still held stay held)."""
        self._call = self._call[max(0, len(self._call) - n):] if n else []
        kept = {id(note) for note in self._call}
        self._held = {key: note for key, note in self._held.items() if id(note) in kept}
        if not n:
            self._unplaced.clear()
            self._primer.stop()

    def _place(self, step: int, t: float, step_seconds: float, jumped: bool) -> None:
        """Put the notes heard since the last tick on the grid; a grid that jumped (or streams not yet begun)
        places the whole call afresh."""
        if jumped or not self._primer.active:
            self._primer.stop()
            for note in self._call:
                note.start = note.end = None
            self._unplaced = list(self._call)
        for note in self._unplaced:
            self._primer.place(note, step, t, step_seconds)
        self._unplaced.clear()

    def _shift(self, notes: list[tuple[int, int, int]]) -> int:
        return octave_shift([p for _, _, p in notes], self.vocab)

    def _call_ended(self, t: float, step_seconds: float) -> bool:
        if self._requested:
            return True
        pause = max(self.settings.min_pause, self.spb * step_seconds)
        return not self._held and t - self._last_off >= pause - 1e-6

    def _end_answer(self) -> list[mido.Message]:
        self._answer = None
        return self._note_off()

    def _note_off(self) -> list[mido.Message]:
        if self._sounding is None:
            return []
        note, self._sounding = self._sounding, None
        return [mido.Message("note_off", channel=self.settings.channel, note=note, velocity=0)]

    def _play_next(self) -> list[mido.Message]:
        if self._answer is None:
            return self._note_off()
        what = self._answer.next_step()
        if not self._answer.left:
            self._answer = None
        if what == HOLD and self._sounding is not None:
            return []
        out = self._note_off()
        if what >= 0:
            out.append(mido.Message("note_on", channel=self.settings.channel, note=what, velocity=self._velocity))
            self._sounding = what
        return out

    def _call_grid(self, step: int) -> list[tuple[int, int, int]]:
        """The call's notes on the grid, as (start, end, pitch) steps from its first onset: the last `max_steps`
        up to this tick, a note still held ending here."""
        rel = [(n.start - step, min(step if n.end is None else n.end, step) - step, n.pitch)
               for n in self._call if n.start is not None]
        if not rel:
            return []
        first = max(min(a for a, _, _ in rel), -self.settings.max_steps)
        return [(a - first, b - first, p) for a, b, p in rel if a >= first and b > a]

    def _start_answer(self, step: int) -> None:
        self._requested = False
        notes = self._call_grid(step)
        velocities = [n.velocity for n in self._call]
        self._call.clear()
        self._held.clear()
        if not notes:
            self._primer.stop()
            return
        self._velocity = max(1, min(127, int(round(np.mean(velocities) * self.settings.velocity_scale))))
        logits, shift = self._primer.take(self._shift(notes))
        self._primer.stop()
        self._answer = answer_for(self.model, self.settings, notes, logits, shift, step, self._rng)
        self.answers += 1
