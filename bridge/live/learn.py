"""MIDI learn: map each live control ([controls]) to the next CC the musician moves.

A small state machine, apart from the live loop: the engine thread feeds it the control changes it
hears (`feed`), the terminal reader gives it the lines typed (`answer`), and whichever of them ends the
round gets the new map back to put into use. It reads no clock (the messages' own times tell one
gesture from the next) and does no I/O: what to tell the musician waits in `notices`, each finished
map in `finished`, for the session's main thread to print and save.

The rules: a CC counts once its value changes (a controller's first report of where a knob sits is not a
move); the sustain pedal (CC 64) and the channel mode messages (CC 120-127) are never learnt; a CC
already given to a control in this round (learnt, or kept by skipping) is refused and the control asked
again, once per gesture; a learnt CC is taken from any control not yet asked that had it (that control is
off, -1, unless it is learnt later). Enter (or `s`) skips a control, keeping its number; `q` (or Esc)
ends the round, keeping what was learnt, as stopping the session does.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Sequence

from sideman.bridge.config import ControlsConfig
from sideman.bridge.midi import ALL_SOUND_OFF, SUSTAIN

NEVER_LEARNT = frozenset({SUSTAIN, *range(ALL_SOUND_OFF, 128)})  # the pedal and the channel mode messages
# Messages of one CC this far apart (s) are two gestures: a refusal is said once per gesture, not per message.
GESTURE_GAP = 0.3
SKIP = ("", "s")
END = ("q", "\x1b")


@dataclass(frozen=True)
class Slot:
    """One control: its [controls] key, its index in a list key (one per part), and what to call it."""

    key: str
    index: int | None
    label: str


def slots(controls: ControlsConfig, part_names: Sequence[str] = ()) -> list[Slot]:
    """Every control of the dataclass, in order; a per-part list item is named after its part ("mute tenor")."""
    out = []
    for key, index, _ in controls.slots():
        if index is None:
            label = key.replace("_", " ")
        elif key.endswith("_parts") and index < len(part_names):
            label = f"{key.removesuffix('_parts').replace('_', ' ')} {part_names[index]}"
        else:
            label = f"{key.replace('_', ' ')} #{index + 1}"
        out.append(Slot(key, index, label))
    return out


def cc_text(cc: int) -> str:
    return f"CC {cc}" if cc >= 0 else "off"


def controls_text(controls: ControlsConfig, part_names: Sequence[str] = ()) -> str:
    """The CC map in one line: "temperature CC 21, accompaniment CC 22, mute alto CC 23, ..."."""
    return ", ".join(f"{slot.label} {cc_text(cc)}" for slot, (_, _, cc) in zip(slots(controls, part_names), controls.slots()))


def sources_text(sources: dict[str, str]) -> str:
    """Where the map's keys come from (config.key_sources), in one clause: "defaults", "from FILE", or both."""
    by_source: dict[str, list[str]] = {}
    for key, source in sources.items():
        by_source.setdefault(source, []).append(key)
    if len(by_source) == 1:
        source = next(iter(by_source))
        return source if source == "defaults" else f"from {source}"
    return "; ".join(("the rest defaults" if source == "defaults" else f"{', '.join(keys)} from {source}")
                     for source, keys in sorted(by_source.items(), key=lambda item: item[0] == "defaults"))


class Learner:
    """One learn round at a time; `feed` (engine thread) and `start` / `answer` (terminal thread) are
    thread-safe, and `active` and `prompt` may be read from any thread."""

    def __init__(self, part_names: Sequence[str] = ()) -> None:
        self.part_names = tuple(part_names)
        self.active = False
        self.prompt: str | None = None  # what the status line shows while a round runs
        self.notices: queue.SimpleQueue[str] = queue.SimpleQueue()  # lines to print, oldest first
        self.finished: queue.SimpleQueue[ControlsConfig] = queue.SimpleQueue()  # each round's map, when it changed
        self._lock = threading.Lock()
        self._slots: list[Slot] = []
        self._at = 0
        self._start = self._controls = ControlsConfig()
        self._taken: dict[int, str] = {}  # CC -> the control given it in this round
        self._last: dict[tuple[int, int], tuple[int, float]] = {}  # (channel, CC) -> last value and time
        self._refused: set[tuple[int, int]] = set()  # (channel, CC) refused in its current gesture

    def start(self, controls: ControlsConfig) -> None:
        """Begin a round from the map in use (a round already running goes on)."""
        with self._lock:
            if self.active:
                return
            self._slots = slots(controls, self.part_names)
            self._at = 0
            self._start = self._controls = controls
            self._taken, self._last, self._refused = {}, {}, set()
            self.active = True
            self.notices.put(f"Learning the controls: move each one when asked ({len(self._slots)} in all).")
            self._ask()

    def feed(self, channel: int, control: int, value: int, t: float) -> ControlsConfig | None:
        """A control change heard at `t`. Returns the new map if this ended the round, else None."""
        if not self.active or control in NEVER_LEARNT:
            return None
        with self._lock:
            if not self.active:
                return None
            where = (channel, control)
            last = self._last.get(where)
            self._last[where] = (value, t)
            gesture_goes_on = last is not None and t - last[1] < GESTURE_GAP
            if not gesture_goes_on:
                self._refused.discard(where)
            if last is None or last[0] == value:
                return None  # not a move
            owner = self._taken.get(control)
            if owner is not None:
                if where not in self._refused:
                    self._refused.add(where)
                    self.notices.put(f"CC {control} is already {owner} in this round; move another control for: "
                                     f"{self._slots[self._at].label}")
                return None
            slot = self._slots[self._at]
            self._give(slot, control)
            self._refused.add(where)  # the rest of this gesture is not a refusal for the next control
            self.notices.put(f"{slot.label}: CC {control}")
            return self._next()

    def end(self) -> ControlsConfig | None:
        """End the round now, keeping what was learnt: the new map, or None if no round ran."""
        with self._lock:
            return self._end() if self.active else None

    def answer(self, line: str) -> ControlsConfig | None:
        """A line typed while a round runs: Enter or `s` skips, `q` or Esc ends. Returns the new map if the
        round ended, else None."""
        text = line.strip().lower()
        with self._lock:
            if not self.active:
                return None
            if text in END:
                return self._end()
            if text in SKIP:
                slot = self._slots[self._at]
                cc = self._cc(slot)
                if cc >= 0:
                    self._taken[cc] = slot.label
                self.notices.put(f"{slot.label}: kept {cc_text(cc)}")
                return self._next()
            self.notices.put(f"{line.strip()!r}: Enter skips {self._slots[self._at].label}, q ends learning")
            return None

    # -- under the lock ----------------------------------------------------------------------------
    def _cc(self, slot: Slot) -> int:
        value = getattr(self._controls, slot.key)
        return value if slot.index is None else value[slot.index]

    def _give(self, slot: Slot, control: int) -> None:
        """`control` to `slot`, taken from any control not yet asked that had it."""
        for later in self._slots[self._at + 1:]:
            if self._cc(later) == control:
                self._controls = self._controls.with_slot(later.key, later.index, -1)
                self.notices.put(f"{later.label} had CC {control}: it is off until you learn it")
        self._controls = self._controls.with_slot(slot.key, slot.index, control)
        self._taken[control] = slot.label

    def _ask(self) -> None:
        slot = self._slots[self._at]
        self.prompt = f"move the control for: {slot.label} (now {cc_text(self._cc(slot))}; Enter skips, q ends)"
        self.notices.put(self.prompt)

    def _next(self) -> ControlsConfig | None:
        self._at += 1
        if self._at < len(self._slots):
            self._ask()
            return None
        return self._end()

    def _end(self) -> ControlsConfig:
        self.active = False
        self.prompt = None
        controls = self._controls
        if controls == self._start:
            self.notices.put("Learning ended: nothing changed.")
        else:
            self.notices.put(f"Learnt: {controls_text(controls, self.part_names)}")
            self.finished.put(controls)
        return controls
