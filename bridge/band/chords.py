"""The band's chord: a causal estimate from the notes heard, decided on beats.

Which notes count is the chord source: "tune" (every note the player plays: the chord stays while the notes on the
beat fit it, else the best template over this beat and, a little, the beat before), "split" (notes
below a split point, arranger-keyboard style) or "channel" (a chord track on one channel): with those two the chord
is the template match of the keys held, and the previous chord stays while none is held or none is recognised.
"""

from __future__ import annotations

import numpy as np

from sideman.bridge.band.grid import TEMPLATES, estimate_chord

SOURCES = ("tune", "split", "channel")
_PAST = 0.1  # weight of the previous beat's notes in the tune's chord
_CONTEXT = 0.15  # weight of the tune's recent pitch classes: a chord whose tones the tune uses fits its key
_CONTEXT_DECAY = 0.9  # per beat: the context remembers about the last two bars


class ChordFollower:
    def __init__(self, source: str = "tune", split_point: int = 60, channel: int | None = None) -> None:
        if source not in SOURCES:
            raise ValueError(f"chord source must be one of {', '.join(SOURCES)}, got {source!r}")
        self.source = source
        self.split_point = split_point
        self.channel = channel
        self.chord: int | None = None
        self.held = False  # a held chord stays whatever is heard, until released
        self._beat = np.zeros(12, np.float32)  # pitch classes struck in the current beat
        self._past = np.zeros(12, np.float32)
        self._context = np.zeros(12, np.float32)
        self._held: dict[int, int] = {}  # (channel * 128 + note) -> note, of the keys that count
        self._on_beat = np.zeros(12, np.float32)  # struck since the last tick

    def counts(self, note: int, channel: int) -> bool:
        if self.source == "split":
            return note < self.split_point
        if self.source == "channel":
            return channel == self.channel
        return True

    def note_on(self, note: int, channel: int) -> None:
        if not self.counts(note, channel):
            return
        self._held[channel * 128 + note] = note
        self._beat[note % 12] += 1.0
        self._on_beat[note % 12] += 1.0

    def note_off(self, note: int, channel: int) -> None:
        self._held.pop(channel * 128 + note, None)

    def held_classes(self) -> np.ndarray:
        w = np.zeros(12, np.float32)
        for note in self._held.values():
            w[note % 12] += 1.0
        return w

    def hold(self, on: bool) -> None:
        """Keep the chord heard now (on) whatever comes, or follow again (off); with no chord heard yet, nothing is held."""
        self.held = bool(on) and self.chord is not None

    def tick(self, on_beat: bool) -> bool:
        """Update at a tick (after its messages); the chord changes only on a beat, never while held with a chord.
        True if it changed."""
        before = self.chord
        if on_beat and not self.held:
            if self.source == "tune":
                now = self._on_beat + self.held_classes()
                fits = self.chord is not None and not (now * (1.0 - TEMPLATES[self.chord])).any()
                if not fits and now.any():
                    context = self._context / max(1.0, float(self._context.sum()))
                    heard = self._beat + now + _PAST * self._past
                    self.chord = estimate_chord(heard / float(heard.sum()) + _CONTEXT * context)
                self._past = self._beat + now
                self._context = _CONTEXT_DECAY * self._context + self._past
                self._beat = np.zeros(12, np.float32)
            else:
                found = estimate_chord(self.held_classes())
                if found is not None:
                    self.chord = found
        self._on_beat[:] = 0.0
        return self.chord != before

    def reset(self) -> None:
        """A new start: no chord, nothing held."""
        self.chord = None
        self.held = False
        self._beat[:] = 0.0
        self._past[:] = 0.0
        self._context[:] = 0.0
        self._on_beat[:] = 0.0
        self._held.clear()
