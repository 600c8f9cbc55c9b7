"""From part tokens to MIDI: one owned, sounding note per part, at most.

`PartVoicer` keeps two things per part: the model's *line* (the pitch the model believes the part
is holding, whether or not we let it sound) and what is really *sounding* on the part's channel.
Every note-on is preceded by the note-off of whatever that part had sounding, on the same channel,
so a part never has two notes at once. Mute / accompaniment-off silence the sound but not the line
(the model keeps its context); a silenced part comes back at its next onset.

Re-voicing (a late lead note made the engine answer a step again) starts from the state saved
before the step, so only parts whose token changed are touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import mido

from sideman.bridge.midi import all_notes_off
from sideman.bridge.model.contract import Vocab


class PartVoicer:
    def __init__(self, vocab: Vocab, channels: Sequence[int]) -> None:
        self.vocab = vocab
        self.channels = tuple(channels)
        n = len(self.channels)
        self.line: list[int | None] = [None] * n
        self.sounding: list[int | None] = [None] * n
        # State before the current step's output, for re-voicing.
        self._line_before: list[int | None] = [None] * n
        self._sounding_before: list[int | None] = [None] * n
        self.muted = [False] * n
        self.enabled = True

    def audible(self, part: int) -> bool:
        return self.enabled and not self.muted[part]

    # -- note primitives: the only places that create note messages ---------------------------------
    def _off(self, part: int, out: list[mido.Message]) -> None:
        pitch = self.sounding[part]
        if pitch is not None:
            out.append(mido.Message("note_off", channel=self.channels[part], note=pitch, velocity=0))
            self.sounding[part] = None

    def _on(self, part: int, pitch: int, velocity: int, out: list[mido.Message]) -> None:
        self._off(part, out)
        out.append(mido.Message("note_on", channel=self.channels[part], note=pitch, velocity=velocity))
        self.sounding[part] = pitch

    # -- steps ---------------------------------------------------------------------------------------
    def apply(self, tokens: Sequence[int], velocities: Sequence[int]) -> list[mido.Message]:
        """Play one step's tokens (parts order); remembers the state before it for `revoice`."""
        out: list[mido.Message] = []
        vocab = self.vocab
        for k, token in enumerate(tokens):
            self._line_before[k] = self.line[k]
            self._sounding_before[k] = self.sounding[k]
            if token == vocab.hold:
                pass
            elif token == vocab.rest:
                self.line[k] = None
            else:
                pitch = vocab.pitch(int(token))
                self.line[k] = pitch
                if self.audible(k):
                    self._on(k, pitch, velocities[k], out)
            if self.sounding[k] is not None and self.sounding[k] != self.line[k]:
                self._off(k, out)  # the line ended (rest) or was forgotten (reset): never leave it sounding
        return out

    def revoice(self, old: Sequence[int], new: Sequence[int], velocities: Sequence[int]) -> list[mido.Message]:
        """The current step was answered again: fix only the parts whose token changed."""
        out: list[mido.Message] = []
        vocab = self.vocab
        for k, (was, token) in enumerate(zip(old, new)):
            if was == token:
                continue
            if token == vocab.rest:
                self.line[k] = None
                self._off(k, out)
            elif token == vocab.hold:
                # Undo this step: the note from before continues. If the wrong answer cut it, strike it again.
                self.line[k] = self._line_before[k]
                target = self._sounding_before[k] if self.audible(k) else None
                if self.sounding[k] != target:
                    self._off(k, out)
                    if target is not None:
                        self._on(k, target, velocities[k], out)
            else:
                pitch = vocab.pitch(int(token))
                self.line[k] = pitch
                if self.audible(k):
                    self._on(k, pitch, velocities[k], out)
                else:
                    self._off(k, out)
        return out

    # -- silencing -----------------------------------------------------------------------------------
    def silence(self, parts: Sequence[int] | None = None) -> list[mido.Message]:
        """Note-offs for what the given parts (default all) have sounding; nothing may come back by re-voicing."""
        out: list[mido.Message] = []
        for k in range(len(self.channels)) if parts is None else parts:
            self._off(k, out)
            self._sounding_before[k] = None
        return out

    def all_notes_off(self) -> list[mido.Message]:
        """CC 123 on every part channel (panic: also ends notes some other program left on them)."""
        return all_notes_off(self.channels)

    def forget_lines(self) -> None:
        """The model's history was reset: it no longer holds any line. Sounding notes end at the next step."""
        for k in range(len(self.line)):
            self.line[k] = None
            self._line_before[k] = None
