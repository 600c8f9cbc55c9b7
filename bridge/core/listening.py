"""The engine's ears: what the player plays, heard step by step, and what that allows the parts.

`Hearing` keeps the keys down and the notes struck since the last tick, steps the key/chord recogniser
(bridge/listen) once per tick, and turns its answer and the tune's note into the harmony bias the parts
are sampled with (bridge/core/harmony.py). While the key is uncertain it keeps the parts to what the
likely keys share (`_keep_to_common_notes`). It also holds the two player's controls over it: a key lock
(named, or the key heard now, frozen) and "listen first" (the parts rest for the first beats of the
tune, from its first note, while the recogniser hears it, and all come in on the step after).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sideman.bridge.core.harmony import HarmonyBias, HarmonyStrengths
from sideman.bridge.model.contract import Vocab
from sideman.bridge.model.sampling import FORBIDDEN

_MAX_STRUCK = 64  # notes struck within one step that the recogniser is told about (a chord, a glissando)
# The key doubt holds while the likely keys still share this many pitch classes (three keys in a row of fifths
# share five); when they share fewer, the key is simply unknown, its cost is spread thin, and the doubt
# would leave the parts only the tune's own notes.
_MIN_SHARED = 5


class Listener(Protocol):
    """What the engine needs from a recogniser (sideman.bridge.listen.recogniser.Recogniser, or a fake)."""

    key_probs: np.ndarray  # [K] probabilities of each key class after the last step
    chord_probs: np.ndarray  # [C] probabilities of each chord class after the last step

    def step(self, sounding: Collection[int], onsets: Collection[int], step_in_beat: int) -> object: ...
    def snapshot(self) -> Any: ...
    def restore(self, snapshot: Any) -> None: ...
    def reset(self) -> None: ...


@dataclass(frozen=True)
class HeardNow:
    """What the engine hears at the current step (for the status line and `sideman listen`)."""

    key: int | None  # key class (bridge.listen.names names it), None before anything was heard
    key_confidence: float
    chord: int | None
    chord_confidence: float
    key_locked: bool


@dataclass(frozen=True)
class PitchClassTables:
    """[K, 12] and [C, 12]: 1.0 where a pitch class belongs to a key / a chord class (the recogniser's classes);
    `neighbours` [K, n]: the key classes a fifth away from each key, in its mode (None: not known)."""

    keys: np.ndarray
    chords: np.ndarray
    neighbours: np.ndarray | None = None


@dataclass(frozen=True)
class KeyDoubt:
    """When the heard key counts as uncertain, so that the parts keep to the notes its rivals share.

    `settle_steps`: from the tune's first note, the key may still be a fifth off (a few notes rarely tell a
    key from its neighbours); `close`: a key whose probability is at least this share of the top one's is
    a rival at any time (0: none)."""

    settle_steps: int = 0
    close: float = 0.0

    @property
    def active(self) -> bool:
        return self.settle_steps > 0 or self.close > 0


class Hearing:
    def __init__(self, listener: Listener | None, tables: PitchClassTables | None, vocab: Vocab, n_parts: int,
                 strengths: HarmonyStrengths, steps_per_beat: int, key_lock: int | None = None, listen_steps: int = 0,
                 doubt: KeyDoubt = KeyDoubt()) -> None:
        if (listener is not None or key_lock is not None) and tables is None:
            raise ValueError("a listener or a key lock needs the pitch classes of its key and chord classes")
        self.listener = listener
        self.tables = tables
        self.harmony = HarmonyBias(vocab, n_parts, strengths)
        self.spb = steps_per_beat
        self.key_lock = key_lock
        self.listen_steps = listen_steps
        self.doubt = doubt
        self._struck: list[int] = []
        self._in_key = np.zeros(12, np.float32)
        self._in_chord = np.zeros(12, np.float32)
        n_keys = 0 if tables is None else len(tables.keys)
        # Scratch for the key doubt: the keys the heard one may really be (1.0), how many of them hold each
        # pitch class, and the pitch classes some of them lack; per chord class, the pitch classes it lacks.
        self._rivals = np.zeros(n_keys, np.float32)
        self._holding = np.zeros(12, np.float32)
        self._lacking = np.zeros(12, bool)
        self._outside_chord = None if tables is None else tables.chords == 0
        self._heard_anything = False
        self._steps_heard = 0
        self.now = HeardNow(key_lock, 1.0 if key_lock is not None else 0.0, None, 0.0, key_lock is not None)
        self._rest_only = np.full((n_parts, vocab.size), FORBIDDEN, np.float32)  # listening first: parts rest
        self._rest_only[:, vocab.rest] = 0.0
        # Coming in after listening first: every part strikes a note, since a model that has rested for beats
        # goes on resting (its own past parts were rests) and would come in bars late.
        self._entry = np.zeros((n_parts, vocab.size), np.float32)
        self._entry[:, [vocab.rest, vocab.hold]] = FORBIDDEN

    @property
    def active(self) -> bool:
        """Whether hearing changes what the parts play (else the engine skips it)."""
        return self.harmony.strengths.active or self.listen_steps > 0 or self.listener is not None

    def struck(self, pitch: int) -> None:
        if len(self._struck) < _MAX_STRUCK:
            self._struck.append(pitch)

    def reset(self) -> None:
        """A new start: nothing heard, listen first again."""
        self._struck.clear()
        self._heard_anything = False
        self._steps_heard = 0
        if self.listener is not None:
            self.listener.reset()
        self.now = HeardNow(self.key_lock, 1.0 if self.key_lock is not None else 0.0, None, 0.0, self.key_lock is not None)

    def snapshot(self) -> tuple[Any, ...]:
        """Everything `hear()` changes, to hear a step ahead and take it back (bridge/core/ahead.py)."""
        return (self.listener.snapshot() if self.listener is not None else None, tuple(self._struck),
                self._in_key.copy(), self._in_chord.copy(), self._heard_anything, self._steps_heard, self.now)

    def restore(self, snapshot: tuple[Any, ...]) -> None:
        listener, struck, in_key, in_chord, self._heard_anything, self._steps_heard, self.now = snapshot
        if self.listener is not None:
            self.listener.restore(listener)
        self._struck[:] = struck
        self._in_key[...] = in_key
        self._in_chord[...] = in_chord

    def freeze(self, on: bool) -> None:
        """Lock the key to the one heard now (on), or follow the recogniser again (off)."""
        self.key_lock = self.now.key if on else None
        self.now = HeardNow(self.now.key, self.now.key_confidence, self.now.chord, self.now.chord_confidence,
                            self.key_lock is not None)

    @property
    def entering(self) -> bool:
        """True on the first step after listening first: the parts come in there, where they were asked to."""
        return self.listen_steps > 0 and self._steps_heard == self.listen_steps + 1

    @property
    def listening_first(self) -> bool:
        """True while the parts must still rest and listen (before the first note, and for listen_steps from it)."""
        return self._steps_heard <= self.listen_steps and self.listen_steps > 0

    def hear(self, step: int, keys_down: Collection[int]) -> None:
        """One tick: tell the recogniser what sounds and what was struck since the last tick."""
        # Listening first counts steps from the first note: silence before the tune teaches nothing about its key.
        if keys_down or self._struck or self._steps_heard:
            self._steps_heard += 1
        if self.listener is not None:
            sounding = set(keys_down)
            sounding.update(self._struck)
            self.listener.step(sounding, self._struck, step % self.spb)
            if sounding or self._heard_anything:
                self._heard_anything = True
                np.matmul(self.listener.key_probs, self.tables.keys, out=self._in_key)
                np.matmul(self.listener.chord_probs, self.tables.chords, out=self._in_chord)
                key, chord = int(self.listener.key_probs.argmax()), int(self.listener.chord_probs.argmax())
                if self.doubt.active:
                    self._keep_to_common_notes(self.listener.key_probs, chord)
                self.now = HeardNow(key, float(self.listener.key_probs[key]), chord,
                                    float(self.listener.chord_probs[chord]), False)
        self._struck.clear()
        if self.key_lock is not None:
            self._in_key[...] = self.tables.keys[self.key_lock]
            self.now = HeardNow(self.key_lock, 1.0, self.now.chord, self.now.chord_confidence, True)

    def key_so_far(self, out: np.ndarray) -> None:
        """Write the key heard so far into `out` (a model's key input, one probability per key class): the
        locked key, else the listener's belief once it has heard something, else every key alike."""
        if self.key_lock is not None:
            out.fill(0.0)
            out[self.key_lock] = 1.0
        elif self.listener is not None and self._heard_anything:
            out[...] = self.listener.key_probs
        else:
            out.fill(1.0 / len(out))

    def _keep_to_common_notes(self, key_probs: np.ndarray, chord: int) -> None:
        """While the key is uncertain, a pitch class that some rival key's scale lacks costs the key strength
        once more: keys a fifth apart differ by one note, and the notes they share are right under either,
        while a note outside every rival's scale still costs more than one outside only some. The notes of
        the chord heard now are not in doubt: the tune sounds that chord whichever rival is the key."""
        top = int(key_probs.argmax())
        rivals = self._rivals
        if self.doubt.close > 0:
            np.greater_equal(key_probs, self.doubt.close * key_probs[top], out=rivals)
        else:
            rivals.fill(0.0)
        rivals[top] = 1.0
        if self._steps_heard <= self.doubt.settle_steps and self.tables.neighbours is not None:
            rivals[self.tables.neighbours[top]] = 1.0
        n_rivals = np.count_nonzero(rivals)
        if n_rivals > 1:
            np.matmul(rivals, self.tables.keys, out=self._holding)  # how many rivals hold each pitch class
            np.less(self._holding, n_rivals, out=self._lacking)
            np.logical_and(self._lacking, self._outside_chord[chord], out=self._lacking)
            if 12 - np.count_nonzero(self._lacking) >= _MIN_SHARED:
                np.subtract(self._in_key, self._lacking, out=self._in_key)

    def bias(self, tune_pitch: int | None, sounding: Sequence[int | None]) -> np.ndarray | None:
        """The bias the parts are sampled with at the current step, or None when it would change nothing:
        rests only while listening first, then the harmony bias (on the step the parts come in, no rest)."""
        if self.listening_first:
            return self._rest_only
        bias = None
        if self.harmony.strengths.active:
            known = self._heard_anything or self.key_lock is not None
            in_key = self._in_key if known else None
            in_chord = self._in_chord if self._heard_anything else None
            bias = self.harmony.step(in_key, in_chord, tune_pitch, sounding)
        if self.entering:
            return self._entry if bias is None else bias + self._entry
        return bias
