"""A model accompanist: the tune as a MIDI file through the offline engine `sideman accompany` uses
(sideman.bridge.offline.render.render), in exact time, and the parts it plays read back onto the grid.

The engine folds tune notes outside the model's lead range into it by octaves, as it does live; the
measures compare the parts with the tune as written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mido
import numpy as np

from sideman.models.quality.grid import Parts, Tune

TICKS_PER_STEP = 120
BPM = 100.0


def tune_notes(tune: Tune) -> list[tuple[int, int, int]]:
    """(start step, end step, pitch) of the tune's notes."""
    notes: list[tuple[int, int, int]] = []
    start = -1
    for t in range(tune.n_steps + 1):
        ends = t == tune.n_steps or tune.onset[t] or tune.pitch[t] < 0
        if start >= 0 and ends:
            notes.append((start, t, int(tune.pitch[start])))
            start = -1
        if t < tune.n_steps and tune.pitch[t] >= 0 and start < 0:
            start = t
    return notes


def melody_midi(tune: Tune) -> mido.MidiFile:
    """The tune as a type-1 MIDI file with its meter; note-offs before note-ons at the same tick."""
    timed = sorted([(s * TICKS_PER_STEP, 1, p) for s, _, p in tune_notes(tune)]
                   + [(e * TICKS_PER_STEP, 0, p) for _, e, p in tune_notes(tune)])
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=tune.name)])
    now = 0
    for tick, on, pitch in timed:
        track.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=80 if on else 0, time=tick - now))
        now = tick
    num, den = tune.meter.time_signature
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM)),
                                mido.MetaMessage("time_signature", numerator=num, denominator=den)])
    return mido.MidiFile(type=1, ticks_per_beat=4 * TICKS_PER_STEP, tracks=[conductor, track])


def parts_from_result(result: Any, n_steps: int) -> Parts:
    """The parts' rendered notes on the grid: what sounds at each step's middle, onsets at note starts."""
    names = result.voices[1:]
    pitch = np.full((n_steps, len(names)), -1, dtype=np.int64)
    onset = np.zeros((n_steps, len(names)), dtype=bool)
    mids = (np.arange(n_steps) + 0.5) * result.step_seconds
    for col, name in enumerate(names):
        for n in result.notes:
            if n.voice != name:
                continue
            pitch[(mids >= n.start) & (mids < n.end), col] = n.pitch
            s = int(round(n.start / result.step_seconds))
            if s < n_steps:
                onset[s, col] = True
    return Parts(pitch, onset & (pitch >= 0))


@dataclass
class EngineAccompanist:
    """A step model (default: the shipped ONNX model) through the engine; `settings` override
    EngineSettings fields (a new knob of the engine is swept by naming it here); `listener`: the
    engine's ears, as [engine] listener ("cnn" or "profile"; None: the config's default)."""

    model_path: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    listener: str | None = None
    model: Any = None  # a loaded StepModel; loaded from model_path on first use if None
    hearing: Any = None  # (listener, tables), loaded on first use; each render resets the listener

    def __call__(self, tune: Tune, seed: int) -> Parts:
        from sideman.bridge.config import Config
        from sideman.bridge.engines import DEFAULT_MODEL, engine_settings, hearing_for, load_model
        from sideman.bridge.offline.render import render

        if self.model is None:
            self.model = load_model(self.model_path or DEFAULT_MODEL)
        if self.hearing is None:
            self.hearing = hearing_for(self.listener or Config().engine.listener, self.model.contract)
        base = engine_settings(Config().replace("engine", seed=seed), self.model.contract)
        listener, tables = self.hearing
        result = render(melody_midi(tune), self.model, dataclasses.replace(base, **self.settings),
                        listener=listener, tables=tables)
        return parts_from_result(result, tune.n_steps)
