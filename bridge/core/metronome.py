"""The click: a metronome and count-in on Sideman's own clocks. Pure logic — the caller sends what it returns.

A click sounds on every beat tick (accented on the bar's first) and ends at the next tick, so it owes
exactly one note-off at a time; stop() and set_enabled(False) return it. Count-in ticks (negative steps,
sideman.bridge.core.clock.InternalClock) click whenever the count-in is on, whether or not the metronome is.
"""

from __future__ import annotations

import mido

ACCENT_VELOCITY = 110  # the bar's first beat
BEAT_VELOCITY = 75


class Metronome:
    def __init__(self, channel: int, note: int, enabled: bool = False, count_in: bool = False) -> None:
        """`channel` 0-based (General MIDI drums: 9); `note` the percussion key (37 side stick, 76 wood block)."""
        self.channel, self.note = channel, note
        self.enabled = enabled
        self.count_in = count_in
        self._sounding = False

    def _off(self) -> list[mido.Message]:
        if not self._sounding:
            return []
        self._sounding = False
        return [mido.Message("note_off", channel=self.channel, note=self.note, velocity=0)]

    def tick(self, step: int, steps_per_beat: int, beats_per_bar: int) -> list[mido.Message]:
        """What to send at grid step `step`: the last click's note-off, then a click if a beat starts here."""
        out = self._off()
        clicking = self.enabled or (self.count_in and step < 0)
        if clicking and step % steps_per_beat == 0:
            accent = step % (steps_per_beat * beats_per_bar) == 0
            out.append(mido.Message("note_on", channel=self.channel, note=self.note,
                                    velocity=ACCENT_VELOCITY if accent else BEAT_VELOCITY))
            self._sounding = True
        return out

    def set_enabled(self, enabled: bool) -> list[mido.Message]:
        """On or off (the [controls] metronome CC); off ends a sounding click now."""
        self.enabled = bool(enabled)
        return [] if enabled else self._off()

    def stop(self) -> list[mido.Message]:
        """The clock stopped: the note-off still owed, if any."""
        return self._off()
