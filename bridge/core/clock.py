"""Where the beat is: the DAW's MIDI beat clock, or Sideman's own. Pure logic — time is passed in.

MIDI beat clock (MIDI 1.0 spec): 24 Clock (0xF8) pulses per quarter note, so a 16th-note step is
6 pulses. After Start (0xFA) the *next* Clock pulse is the first beat of the song; Continue (0xFB)
resumes from the current position; Stop (0xFC) halts; Song Position Pointer (0xF2, 14 bits, in
16ths = "MIDI beats") moves the position while stopped. A step tick is emitted on the pulse that
begins each 16th, at the time that pulse arrived (the driver's timestamp, not a re-read clock).
"""

from __future__ import annotations

from dataclasses import dataclass

from sideman.bridge.midi import CLOCK, CONTINUE, PULSES_PER_QUARTER, SONG_POSITION, START, STOP


@dataclass(frozen=True)
class Tick:
    """A 16th-note grid tick: `step` counts 16ths from the start of the song."""

    step: int
    t: float
    step_seconds: float  # expected time to the next tick, from the current tempo


@dataclass(frozen=True)
class Transport:
    """A transport change: 'start' (from the top), 'continue', 'stop', or 'seek' (song position moved)."""

    kind: str
    t: float
    step: int


class MidiClockFollower:
    """Turns realtime MIDI bytes into Ticks and Transport events; estimates tempo from pulse spacing."""

    def __init__(self, steps_per_beat: int = 4, fallback_bpm: float = 100.0) -> None:
        if PULSES_PER_QUARTER % steps_per_beat:
            raise ValueError("steps_per_beat must divide 24")
        self.pulses_per_step = PULSES_PER_QUARTER // steps_per_beat
        self.running = False
        self.pulse = 0  # position in pulses from the song start; the next Clock pulse is at this position
        self._last_pulse_t: float | None = None
        self._pulse_seconds = 60.0 / (fallback_bpm * PULSES_PER_QUARTER)
        self._outlier_gap: float | None = None

    @property
    def bpm(self) -> float:
        return 60.0 / (self._pulse_seconds * PULSES_PER_QUARTER)

    @property
    def pulse_seconds(self) -> float:
        return self._pulse_seconds

    @property
    def last_pulse_t(self) -> float | None:
        return self._last_pulse_t

    @property
    def next_pulse_ticks(self) -> bool:
        """The next Clock pulse begins a step (a tick), if the transport is running."""
        return self.running and self.pulse % self.pulses_per_step == 0

    @property
    def step_seconds(self) -> float:
        return self._pulse_seconds * self.pulses_per_step

    def feed(self, data: list[int] | bytes, t: float) -> Tick | Transport | None:
        """One realtime or SPP message at time t; returns what it means for the engine, if anything."""
        status = data[0]
        if status == CLOCK:
            return self._clock(t)
        if status == START:
            self.running, self.pulse, self._last_pulse_t = True, 0, None
            return Transport("start", t, 0)
        if status == CONTINUE:
            self.running, self._last_pulse_t = True, None
            return Transport("continue", t, self.pulse // self.pulses_per_step)
        if status == STOP:
            self.running = False
            return Transport("stop", t, self.pulse // self.pulses_per_step)
        if status == SONG_POSITION and len(data) >= 3:
            sixteenths = (data[1] & 0x7F) | ((data[2] & 0x7F) << 7)
            # One MIDI beat (SPP unit) is a 16th note = 6 pulses, whatever our steps_per_beat.
            self.pulse = sixteenths * (PULSES_PER_QUARTER // 4)
            return Transport("seek", t, self.pulse // self.pulses_per_step)
        return None

    def _learn_tempo(self, gap: float) -> None:
        """Smooth pulse jitter, but follow a real tempo change at once.

        A gap within 30% of the estimate nudges it (exponential average). A gap further off is taken
        only when the next gap agrees with it (a new tempo, e.g. 90 -> 300 BPM), so one late pulse
        does not swing the tempo. Gaps outside 20..300 BPM are stalls or bursts, not tempi.
        """
        if not 60.0 / (300 * PULSES_PER_QUARTER) * 0.9 <= gap <= 60.0 / (20 * PULSES_PER_QUARTER) * 1.1:
            self._outlier_gap = None
            return
        if abs(gap - self._pulse_seconds) <= 0.3 * self._pulse_seconds:
            self._pulse_seconds += 0.15 * (gap - self._pulse_seconds)
            self._outlier_gap = None
        elif self._outlier_gap is not None and abs(gap - self._outlier_gap) <= 0.3 * gap:
            self._pulse_seconds = 0.5 * (gap + self._outlier_gap)
            self._outlier_gap = None
        else:
            self._outlier_gap = gap

    def _clock(self, t: float) -> Tick | None:
        if self._last_pulse_t is not None:
            self._learn_tempo(t - self._last_pulse_t)
        self._last_pulse_t = t
        if not self.running:
            return None
        pulse, self.pulse = self.pulse, self.pulse + 1
        if pulse % self.pulses_per_step:
            return None
        return Tick(pulse // self.pulses_per_step, t, self.step_seconds)


class InternalClock:
    """Sideman's own 16th-note grid at a fixed tempo, on an absolute schedule (t0 + n * period: no drift)."""

    def __init__(self, bpm: float, steps_per_beat: int = 4) -> None:
        self.step_seconds = 60.0 / (bpm * steps_per_beat)
        self.bpm = bpm
        self.running = False
        self._t0 = 0.0
        self.next_step = 0

    def start(self, t: float, step: int = 0) -> Transport:
        self.running, self._t0, self.next_step = True, t - step * self.step_seconds, step
        return Transport("start", t, step)

    def stop(self, t: float) -> Transport:
        self.running = False
        return Transport("stop", t, self.next_step)

    def next_tick_time(self) -> float | None:
        return self._t0 + self.next_step * self.step_seconds if self.running else None

    def set_bpm(self, bpm: float) -> None:
        """A new tempo from the next tick on: the tick already due keeps its time, later ones follow the new period."""
        step_seconds = self.step_seconds * self.bpm / bpm
        if self.running:
            next_t = self._t0 + self.next_step * self.step_seconds
            self._t0 = next_t - self.next_step * step_seconds
        self.step_seconds, self.bpm = step_seconds, bpm

    def due(self, now: float) -> Tick | None:
        """The next tick if its time has come (at most one per call: the caller loops)."""
        if not self.running:
            return None
        t = self._t0 + self.next_step * self.step_seconds
        if now < t:
            return None
        tick = Tick(self.next_step, t, self.step_seconds)
        self.next_step += 1
        return tick
