"""The live status line: what a musician glances at while playing.

It runs on its own low-priority thread and only reads the bridge's counters (plain attribute reads
are atomic in CPython), so the engine thread never waits for the terminal.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable, TextIO

from sideman.bridge.core.key_profiles import chord_name, key_name
from sideman.bridge.core.listening import HeardNow
from sideman.bridge.model.contract import pitch_name
from sideman.bridge.live.loop import LiveBridge


def position_text(step: int, steps_per_beat: int, beats_per_bar: int) -> str:
    """Song position as bar:beat:16th, counted from 1 like a DAW; "count-in" before the first bar."""
    if step < 0:
        return "count-in"
    per_bar = steps_per_beat * beats_per_bar
    return f"{step // per_bar + 1}:{(step // steps_per_beat) % beats_per_bar + 1}:{step % steps_per_beat + 1}"


def heard_text(heard: HeardNow) -> str:
    """'key G major  80% chord D7': what Sideman hears ('locked' after the key when it is held). The band style hears
    no key: 'key - chord D7' ('held' after the chord when it is held)."""
    if heard.key is None:
        held = " held" if heard.key_locked else ""
        return "key -" + (f" chord {chord_name(heard.chord)}{held}" if heard.chord is not None else "")
    text = f"key {key_name(heard.key)} {100 * heard.key_confidence:3.0f}%" + (" locked" if heard.key_locked else "")
    return text + (f" chord {chord_name(heard.chord)}" if heard.chord is not None else "")


def status_text(bridge: LiveBridge, xruns: int = 0) -> str:
    """The line; `xruns`: the JACK server's xrun notices so far (shown once there is one)."""
    clock = bridge.midi_clock if bridge.clock_source == "midi" else bridge.internal
    running = clock.running
    name = "midi" if bridge.clock_source == "midi" else clock.name
    head = f"{name} clock {clock.bpm:5.1f} BPM {'▶' if running else '■'}"
    if bridge.clock_source == "midi" and not running:
        head += " waiting for Start (or Continue)"  # the DAW's clock alone does not start the song
    parts = [head]
    prompt = bridge.learner.prompt if bridge.learner is not None else None
    if prompt:
        parts.insert(0, prompt)  # first: it asks the musician to do something
    if bridge.engines:
        engine = bridge.engine
        contract = engine.contract
        parts.append(position_text(bridge.stats.step, contract.steps_per_beat, bridge.beats_per_bar))
        held = [note for _, note in bridge.input_notes.held]
        parts.append(f"lead {pitch_name(max(held)) if held else '-':>4}")
        sounding = engine.sounding
        parts.append(" ".join(f"{p.name} {pitch_name(sounding[i]) if i in sounding else '-':>4}" for i, p in enumerate(contract.parts)))
        parts.append(heard_text(engine.heard))
        p50, p99 = bridge.stats.latency_us()
        # Steps answered before their tick (sideman.bridge.core.ahead) cost the tick only the sending.
        prepared = getattr(engine, "prepared_count", None)
        ahead = f" ({100 * prepared / engine.step_count:3.0f}% ahead)" if engine.step_count and prepared is not None else ""
        parts.append(f"step p50 {p50:4.0f}µs p99 {p99:4.0f}µs{ahead}")
        if len(bridge.engines) > 1:
            parts.append(f"model {bridge.active + 1}/{len(bridge.engines)}")
    parts.append(f"dropped {bridge.dropped}")
    if xruns:
        parts.append(f"JACK xruns {xruns}")
    if bridge.fault:
        parts.append(f"FAULT: {bridge.fault}")
    if bridge.recorder is not None:
        parts.append(f"rec {bridge.recorder.journal_path.name}")
    return " | ".join(parts)


class StatusLine:
    """Redraws one terminal line a few times a second (or prints a line every few seconds to a non-terminal)."""

    def __init__(self, bridge: LiveBridge, stream: TextIO = sys.stdout, interval: float = 0.2,
                 xruns: Callable[[], int] | None = None) -> None:
        self.bridge = bridge
        self.xruns = xruns or (lambda: 0)
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval if self.tty else 5.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sideman-status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            text = status_text(self.bridge, self.xruns())
            if self.tty:
                self.stream.write("\r\x1b[2K" + text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
