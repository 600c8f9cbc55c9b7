"""When the live loop answers the coming step ahead of its tick (sideman.bridge.core.ahead): once per step,
in the engine thread's idle time, again after the melody moved."""

from __future__ import annotations

from typing import Any

LiveBridge = Any  # sideman.bridge.live.loop.LiveBridge, which imports this module

# With Sideman's own clock, answer the next step this long before its tick; with MIDI clock, half a pulse
# before it: not at the pulse itself, where a melody note played with it would wait behind the model.
PREPARE_AHEAD = 0.02


class AheadScheduler:
    def __init__(self) -> None:
        self._done_for: tuple[str, int] | None = None  # the coming step last prepared (clock, position)

    def forget(self) -> None:
        """The melody or the transport moved: answer the coming step again."""
        self._done_for = None

    @staticmethod
    def coming(bridge: LiveBridge) -> tuple[tuple[str, int], int, float, float] | None:
        """(which, step, expected tick time, when to prepare it) of the next tick, if one is coming."""
        if not bridge.engines or not hasattr(bridge.engine, "prepare"):
            return None
        if bridge.clock_source == "midi":
            clock = bridge.midi_clock
            if not clock.next_pulse_ticks or clock.last_pulse_t is None:
                return None
            tick_t = clock.last_pulse_t + clock.pulse_seconds
            return ("midi", clock.pulse), clock.pulse // clock.pulses_per_step, tick_t, tick_t - clock.pulse_seconds / 2
        t = bridge.internal.next_tick_time()
        step = bridge.internal.next_step
        if t is None or step < 0:  # a count-in step plays no parts
            return None
        return ("internal", step), step, t, t - PREPARE_AHEAD

    def wake_in(self, bridge: LiveBridge, now: float) -> float | None:
        """Seconds until the coming step should be prepared (None: nothing to prepare)."""
        coming = self.coming(bridge)
        if coming is None or coming[0] == self._done_for:
            return None
        return max(0.0, coming[3] - now)

    def prepare(self, bridge: LiveBridge, now: float) -> None:
        """Let the engine answer the coming step, if it is time and not done yet."""
        coming = self.coming(bridge)
        if coming is None or coming[0] == self._done_for or now < coming[3]:
            return
        self._done_for = coming[0]
        bridge.engine.prepare(coming[1], coming[2], now, bridge.beats_per_bar)
