"""The call stepped through the answer model as it is played, a grid step per tick, so that the pause finds
the model primed. Pure logic — time is passed in.

Each note of the call is placed on the grid at the first tick after it is heard (its onset and its end
rounded to the nearest 16th of that tick's grid), and each tick feeds the model the token of the step
before: the onset, hold or rest of the call's line (of notes struck together, the highest), as
`melody_tokens` would write it. The call is moved by whole octaves into the model's range at the pause,
by the median of its notes, which a tick cannot know yet; so three streams are primed, one per octave
shift around the first note's, each with a model state of its own, and the pause takes the stream of the
shift it decides (the nearest one if the call's median has moved further). A stream begins at the call's
first onset (at most `limit` steps before the tick that places it), its context reset. A tick runs at most
STEPS_PER_TICK model steps, shared by the streams: notes heard before the ticks ran (a grid that starts or
restarts late) are caught up over the next ticks, not at once, and a pause that finds the streams behind
keeps only the stream it needs, to catch up faster.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from sideman.bridge.model.contract import Vocab
from sideman.bridge.model.melody import fold, octave_shift

REST, HOLD = -1, -2  # a token before its shift: a MIDI pitch to strike, or one of these
OCTAVES = (-12, 0, 12)  # streams primed: these shifts around the first note's
OPEN_NOTES = 128  # notes that may sound at once (more: the oldest is a key whose note-off never came)
STEPS_PER_TICK = 6  # model steps a tick runs at most: a grid step of each stream, and as many to catch up


class MelodyStepper(Protocol):
    """What the answerer needs from a model (sideman.bridge.model.melody.MelodyModel, or a fake in tests)."""

    @property
    def contract(self): ...  # .vocab, .steps_per_beat
    def step(self, prev: int, phase: int) -> np.ndarray: ...
    def reset(self) -> None: ...
    def snapshot(self): ...
    def restore(self, snapshot) -> None: ...


class Note:
    """A note of the call: heard with its times, placed on the grid at a tick."""

    __slots__ = ("pitch", "on", "off", "velocity", "start", "end")

    def __init__(self, pitch: int, on: float, velocity: int) -> None:
        self.pitch, self.on, self.off, self.velocity = pitch, on, math.nan, velocity
        self.start: int | None = None  # grid step of the onset
        self.end: int | None = None  # grid step after the last it sounds (None while held)


class _Stream:
    __slots__ = ("shift", "state", "logits")

    def __init__(self, shift: int, state, size: int) -> None:
        self.shift, self.state, self.logits = shift, state, np.zeros(size, np.float32)


class CallPrimer:
    def __init__(self, model: MelodyStepper, limit: int) -> None:
        self.model, self.limit = model, limit  # limit: the steps of a call the streams begin at most before a tick
        self.vocab: Vocab = model.contract.vocab
        self.spb = int(model.contract.steps_per_beat)
        self._streams: list[_Stream] = []
        self._notes: list[Note] = []  # the call's notes that may still sound at the next token
        self.begin = 0  # the grid step the streams began at
        self.cursor = 0  # the next grid step whose logits the streams compute (it feeds the token before)

    @property
    def active(self) -> bool:
        return bool(self._streams)

    @property
    def streams(self) -> int:
        return len(self._streams)

    def stop(self) -> None:
        """Forget the streams (the call was answered or dropped)."""
        self._streams.clear()
        self._notes.clear()

    def place(self, note: Note, step: int, t: float, step_seconds: float) -> None:
        """Put a heard note on the grid of tick `step` at `t`; begin the streams at the call's first note. A note
        heard too late for its step goes to the first step not yet fed; one before the streams began is left out."""
        if note.start is None:
            start = step + round((note.on - t) / step_seconds)
            if not self._streams:
                self._begin(max(start, step - self.limit), note.pitch)
            if start < self.begin:
                note.start = start  # before the streams began: left out of them
            else:
                note.start = max(start, self.cursor - 1)
                self._notes = self._notes[-OPEN_NOTES:] + [note]
        if note.end is None and not math.isnan(note.off):
            note.end = max(note.start + 1, step + round((note.off - t) / step_seconds))

    def primed(self, step: int) -> bool:
        """The streams have computed the logits of grid step `step`."""
        return self.active and self.cursor == step + 1

    def advance(self, step: int) -> int:
        """Feed the streams the call's tokens up to `step` - 1 (STEPS_PER_TICK model steps at most); the model
        steps run."""
        if not self._streams:
            return 0
        last = min(step, self.cursor + STEPS_PER_TICK // len(self._streams) - 1)
        if last < self.cursor:
            return 0
        tokens = [self.token(j - 1) for j in range(self.cursor, last + 1)]
        for s in self._streams:
            self.model.restore(s.state)
            for k, j in enumerate(range(self.cursor, last + 1)):
                logits = self.model.step(self._shifted(tokens[k], s.shift), j % self.spb)
            s.state = self.model.snapshot()
            np.copyto(s.logits, logits)
        self.cursor = last + 1
        self._notes = [n for n in self._notes if n.end is None or n.end >= self.cursor]
        return len(self._streams) * len(tokens)

    def narrow(self, shift: int) -> None:
        """Keep only the stream nearest `shift` (the octave the pause decided)."""
        self._streams = [min(self._streams, key=lambda s: abs(s.shift - shift))]

    def take(self, shift: int) -> tuple[np.ndarray, int]:
        """Put the model in the state of the stream nearest `shift`; that stream's logits of the last step computed,
        and its shift."""
        self.narrow(shift)
        s = self._streams[0]
        self.model.restore(s.state)
        return s.logits, s.shift

    def token(self, j: int) -> int:
        """The call's token at grid step `j` (unshifted: an onset is the pitch's MIDI number, else rest or hold)."""
        best = None
        for n in self._notes:
            if n.start <= j and (n.end is None or n.end > j) and (best is None or (n.start, n.pitch) > (best.start, best.pitch)):
                best = n
        if best is None:
            return REST
        return best.pitch if best.start == j else HOLD

    # -- inside -----------------------------------------------------------------------------------
    def _begin(self, start: int, pitch: int) -> None:
        base = octave_shift([pitch], self.vocab)
        self.model.reset()
        state = self.model.snapshot()
        self._streams = [_Stream(base + o, state, self.vocab.size) for o in OCTAVES]
        self._notes.clear()
        self.begin = self.cursor = start

    def _shifted(self, token: int, shift: int) -> int:
        v = self.vocab
        return v.rest if token == REST else v.hold if token == HOLD else v.onset(fold(token + shift, v))

