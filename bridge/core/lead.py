"""What the musician is playing: held keys, the sustain pedal, and which of them is the lead.

`LeadInput` turns raw note/pedal messages into one monophonic line. It never looks at time: the
engine decides which grid step an onset belongs to. Rules (docs/timing.md, "Input"):

- Several keys held: the lead is the highest (or lowest, or latest pressed) of the keys that are
  physically down.
- A lead *onset* is any change of the lead to a pitch, including a re-strike of the same key and
  a held key revealed when the lead key is released (the legato case: a descending line played
  with overlapping fingers becomes the lower note when the upper one is let go).
- Sustain pedal down: releasing keys changes nothing (their note-offs are deferred), so the lead
  keeps sounding; a new key still becomes the lead by the policy over the keys physically down,
  so a melody played with the pedal down is still followed. Pedal up applies what was deferred.
- Pitches outside the model's lead range are folded by octaves into it.
- Listening to any channel (`channel` None) never includes General MIDI's drum channel (10): a drum
  kit is never a tune. Only an explicit `channel` = 9 (0-based) listens to it.
- All Notes Off and All Sound Off forget every held key and the pedal, as panic does: a note-off lost
  on the way must not keep a lead the player let go of.
"""

from __future__ import annotations

from dataclasses import dataclass

import mido

from sideman.bridge.midi import ALL_NOTES_OFF, ALL_SOUND_OFF, PEDAL_DOWN, PERCUSSION_CHANNEL, SUSTAIN

POLICIES = ("highest", "lowest", "latest")
_VELOCITY_SMOOTHING = 0.3  # weight of the newest note-on in the velocity average (about 3 notes of memory)
_START_VELOCITY = 80.0  # mf, until the musician has played something


@dataclass(frozen=True)
class LeadOnset:
    """A change of the lead line: `pitch` (folded into the lead range) starts; `note_id` counts onsets."""

    pitch: int
    note_id: int


def fold_into(pitch: int, low: int, high: int) -> int:
    """Move `pitch` by whole octaves into [low, high]; if the range is narrower than an octave, clamp."""
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return min(max(pitch, low), high)


class LeadInput:
    """Held keys + pedal -> the current lead pitch, onsets, and the musician's recent velocity."""

    def __init__(self, low: int, high: int, policy: str = "highest", channel: int | None = None) -> None:
        if policy not in POLICIES:
            raise ValueError(f"lead policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.low, self.high, self.policy, self.channel = low, high, policy, channel
        self._down: dict[int, None] = {}  # keys physically down; dict keeps press order (for "latest")
        self._pedal = False
        self._key: int | None = None  # raw key of the current lead (None: the lead rests)
        self.note_id = 0  # id of the latest lead onset; 0 = none yet
        self.velocity = _START_VELOCITY

    @property
    def keys_down(self) -> tuple[int, ...]:
        """The raw keys sounding: those held down, and the lead's key while the pedal holds it."""
        if self._key is not None and self._key not in self._down:
            return (*self._down, self._key)
        return tuple(self._down)

    @property
    def pitch(self) -> int | None:
        """The sounding lead pitch folded into the lead range, or None if the lead rests."""
        return None if self._key is None else fold_into(self._key, self.low, self.high)

    def clear(self) -> None:
        """Forget held keys and the pedal (panic, All Notes Off): the lead rests until the next key."""
        self._down.clear()
        self._pedal = False
        self._key = None

    def handle(self, msg: mido.Message) -> LeadOnset | None:
        """Apply one message; return the lead onset it causes, if any."""
        if not self.listens_to(getattr(msg, "channel", None)):
            return None
        kind = msg.type
        if kind == "note_on" and msg.velocity > 0:
            return self._press(msg.note, msg.velocity)
        if kind == "note_off" or kind == "note_on":  # note_on with velocity 0 is a note-off
            return self._release(msg.note)
        if kind == "control_change" and msg.control in (ALL_NOTES_OFF, ALL_SOUND_OFF):
            self.clear()
            return None
        if kind == "control_change" and msg.control == SUSTAIN:
            down = msg.value >= PEDAL_DOWN
            if down == self._pedal:
                return None
            self._pedal = down
            return None if down else self._settle()
        return None

    def listens_to(self, channel: int | None) -> bool:
        if self.channel is None:
            return channel != PERCUSSION_CHANNEL
        return channel is None or channel == self.channel

    def _choose(self) -> int | None:
        if not self._down:
            return None
        if self.policy == "highest":
            return max(self._down)
        if self.policy == "lowest":
            return min(self._down)
        return next(reversed(self._down))

    def _onset(self, key: int) -> LeadOnset:
        self._key = key
        self.note_id += 1
        return LeadOnset(fold_into(key, self.low, self.high), self.note_id)

    def _press(self, key: int, velocity: int) -> LeadOnset | None:
        self.velocity += _VELOCITY_SMOOTHING * (velocity - self.velocity)
        self._down.pop(key, None)  # a re-press moves the key to the end (latest)
        self._down[key] = None
        if self._choose() == key:
            return self._onset(key)
        if self._key is not None and self._key not in self._down:
            # The lead was only sustained by the pedal: keys played now take over.
            return self._onset(self._choose())  # type: ignore[arg-type]
        return None

    def _release(self, key: int) -> LeadOnset | None:
        if key not in self._down:
            return None  # unmatched note-off: nothing was held
        del self._down[key]
        if self._pedal:
            return None  # deferred: the note keeps sounding until the pedal comes up
        return self._settle() if key == self._key else None

    def _settle(self) -> LeadOnset | None:
        """After a release or pedal-up: if the lead key is no longer down, move to a held key or rest."""
        if self._key is not None and self._key in self._down:
            return None
        chosen = self._choose()
        if chosen is None:
            self._key = None
            return None
        return self._onset(chosen)
