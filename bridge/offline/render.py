"""Offline accompaniment: a MIDI file in, the same Engine in simulated time, the file plus the parts out.

The renderer drives `sideman.bridge.core.engine.Engine` exactly as the live daemon does: it merges the melody's
messages and the grid ticks in time order, calling `handle()` for every message stamped at or before
a tick and then `tick()`, and `stop()` at the end. So what you hear from `sideman accompany` is what
the live bridge would have played for that exact timing.

Timing: the grid is the file's own 16ths (a fixed number of file ticks each) and every time goes
through the file's tempo map, so tempo changes move the grid with the music and the melody keeps
its timing. `--tempo` replaces the map with one tempo. Which line is the melody: midi_input.py;
what the output file holds: midi_output.py.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import mido

from sideman.bridge.config import BridgeConfig, Config, limits
from sideman.bridge.core.answer import Answerer
from sideman.bridge.core.engine import EngineSettings, StepInfo, StepModel, handled_before_tick
from sideman.bridge.core.listening import HeardNow, Listener, PitchClassTables
from sideman.bridge.engines import ASSETS, hearing_for, make_engine, suggested_channels
from sideman.bridge.errors import MidiFileError
from sideman.bridge.core.clock import PEDAL, InternalClock, Tick, Transport
from sideman.bridge.core.follow import FollowClock
from sideman.bridge.midi import PEDAL_DOWN, SUSTAIN, is_note_on
from sideman.bridge.offline.midi_input import MAX_EVENTS, MAX_FILE_BYTES, Melody, TempoMap, read_melody
from sideman.bridge.offline.midi_output import place_parts, write_midi

__all__ = ["MAX_EVENTS", "MAX_FILE_BYTES", "Melody", "Note", "RenderResult", "read_melody", "render"]

MAX_STEPS = 200_000  # ~ 1 h 40 min of 16ths at 120 BPM
MIN_BPM, MAX_BPM = limits(BridgeConfig, "tempo")  # the live bridge's: one tempo range for both
DEMO_MELODY = ASSETS / "demo-melody.mid"


@dataclass(frozen=True)
class Note:
    voice: str
    pitch: int
    start: float  # seconds
    end: float
    velocity: int


@dataclass(frozen=True)
class RenderResult:
    midi: mido.MidiFile
    notes: tuple[Note, ...]  # the lead's and every part's notes, for piano rolls and measurements
    voices: tuple[str, ...]  # "lead", then the part names
    steps: tuple[StepInfo | None, ...]  # per grid step: what the model was told and answered (None: faulted)
    events: tuple[tuple[float, mido.Message], ...]  # every part message the engine sent, with its time (s)
    bpm: float  # the tempo at the start
    beats_per_bar: int
    step_seconds: float  # the first step's length
    reanswers: int  # late-window re-answers
    revoiced: int  # part tokens those re-answers changed
    faults: int
    tempo_map: TempoMap  # seconds <-> beats of the result
    steps_per_beat: int = 4
    part_channels: tuple[int, ...] = ()  # 0-based, as written
    heard: tuple[HeardNow | None, ...] = ()  # per grid step: the key and chord the engine heard at its tick (None: no tick)
    beats: tuple[float, ...] = ()  # the time of every beat tick the parts played on (s)

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def bars(self) -> float:
        return self.n_steps / (self.beats_per_bar * self.steps_per_beat)

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.midi.save(os.fspath(path))
        except OSError as exc:
            raise MidiFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
        return path


def beats_in_bar(numerator: int, denominator: int, max_beats: int) -> int:
    """Quarter-note beats in a bar (6/8 -> 3, 5/8 -> 3, 7/8 -> 4, 12/8 -> 6), rounded half up, clipped."""
    return min(max(1, math.floor(numerator * 4 / denominator + 0.5)), max_beats)


# -- rendering -------------------------------------------------------------------------------------

def _progress(done: int, total: int, last: list[int]) -> None:
    pct = 100 * done // total
    if pct >= last[0] + 10 or done == total:
        last[0] = pct
        print(f"\raccompanying: {pct:3d}% ({done}/{total} steps)", end="\n" if done == total else "", file=sys.stderr, flush=True)


def _check_tempi(name: str, tempo_map: TempoMap) -> None:
    for tick, _, tempo in tempo_map.segments:
        bpm = mido.tempo2bpm(tempo)
        if not MIN_BPM <= bpm <= MAX_BPM:
            at = f" at beat {tick / tempo_map.ticks_per_beat + 1:g}" if tick else ""
            raise MidiFileError(f"{name}: tempo {bpm:.1f} BPM{at} is outside {MIN_BPM:g}..{MAX_BPM:g}; give --tempo")


class _FileGrid:
    """The file's own 16ths, with the interface of Sideman's own clocks: step k at file tick k * step_ticks."""

    def __init__(self, seconds, step_ticks: Fraction, n_steps: int) -> None:
        self.seconds, self.step_ticks, self.n_steps = seconds, step_ticks, n_steps
        self.next_step = 0

    def next_tick_time(self) -> float | None:
        return self.seconds(self.next_step * self.step_ticks) if self.next_step < self.n_steps else None

    def due(self, now: float) -> Tick:
        k, self.next_step = self.next_step, self.next_step + 1
        t = self.seconds(k * self.step_ticks)
        return Tick(k, t, self.seconds((k + 1) * self.step_ticks) - t)

    def hear(self, t: float, source: object) -> Transport | None:
        return None


def render(melody: str | os.PathLike[str] | mido.MidiFile | Melody, model: StepModel,
           settings: EngineSettings | None = None, *, tempo_bpm: float | None = None, track: int | None = None,
           channel: int | None = None, progress: bool = False, listener: Listener | None = None,
           tables: PitchClassTables | None = None, clock: InternalClock | FollowClock | None = None,
           answerer: Answerer | None = None) -> RenderResult:
    """Accompany `melody` with `model` in simulated time; see the module docstring. Deterministic for a seed.
    `listener`/`tables`: the key/chord recogniser the engine hears with (bridge/engines.py loads it).

    The parts go on `settings.part_channels`, except those the input file already uses (midi_output.place_parts:
    `RenderResult.part_channels` says where they went). With `clock`, one of the live bridge's own clocks,
    the grid is not the file's: the clock hears the melody's note-ons and pedal presses at their times in
    seconds and makes the grid, as `sideman run` would with that clock (FollowClock: --clock follow). With
    `answerer` it is call and response, as `sideman run` in answer mode: the parts are silent and the answers
    go on the answerer's channel (moved, like the parts', off the file's channels), a track of their own."""
    mel = melody if isinstance(melody, Melody) else read_melody(melody, track, channel)
    contract = model.contract
    settings = settings or EngineSettings(part_channels=suggested_channels(contract))
    wanted = settings.part_channels + ((answerer.settings.channel,) if answerer is not None else ())
    placed = place_parts(wanted, mel.used_channels())[0]
    settings = replace(settings, part_channels=placed[:len(settings.part_channels)])
    if answerer is not None:
        answerer.settings = replace(answerer.settings, channel=placed[-1], input_channel=None)
    tpb = mel.ticks_per_beat
    tempo_map = mel.tempo_map if tempo_bpm is None else TempoMap.constant(tpb, mido.bpm2tempo(tempo_bpm))
    _check_tempi(mel.name, tempo_map)
    seconds = tempo_map.seconds
    spb = contract.steps_per_beat
    bar_beats = beats_in_bar(mel.numerator, mel.denominator, contract.max_beats_in_bar)
    # The grid: step k at file tick k * step_ticks, so it follows every tempo change. Its times and
    # the melody's come from the same map; equal moments computed from different ticks differ only
    # in the last bits, which the engine's SAME_TIME tolerance absorbs.
    step_ticks = Fraction(tpb, spb)
    end_tick = max((tick for tick, _ in mel.events), default=0)
    last_on = max((tick for tick, m in mel.events if is_note_on(m)), default=0)
    # Enough steps for the last onset and the last note-off, rounded up to a whole bar.
    needed = max(math.ceil(end_tick / step_ticks), math.floor(last_on / step_ticks) + 1)
    bar_steps = bar_beats * spb
    if answerer is not None:  # room after the last phrase for its pause and its answer
        needed += answerer.settings.max_steps + 2 * bar_steps
    n_steps = max(1, math.ceil(needed / bar_steps)) * bar_steps
    if n_steps > MAX_STEPS:
        raise MidiFileError(f"{mel.name}: the melody lasts {n_steps} steps, more than the limit of {MAX_STEPS}")

    if listener is None and tables is None and isinstance(settings, EngineSettings):
        listener, tables = hearing_for(Config().engine.listener, contract)
    engine = make_engine(model, settings, listener, tables)
    engine.reset()
    engine.set_enabled(answerer is None)
    hear = answerer.hear if answerer is not None else lambda msg, t: []  # noqa: E731
    out: list[tuple[float, int, mido.Message]] = []  # (seconds, file tick, message)
    events = [(seconds(tick), tick, msg) for tick, msg in mel.events]
    if clock is None:
        grid = _FileGrid(seconds, step_ticks, n_steps)
        file_tick = lambda k, t: round(k * step_ticks)  # noqa: E731 - exact on the file's grid
        end_t = seconds(end_tick)
    else:
        grid = clock
        file_tick = lambda k, t: round(tempo_map.ticks(t))  # noqa: E731
        end_t = events[-1][0] if events else 0.0
    steps: dict[int, StepInfo | None] = {}
    heard: dict[int, HeardNow] = {}
    beats: list[float] = []
    i, last_pct, show, answered = 0, [-10], progress and n_steps >= 4000, None
    while True:
        t_k = grid.next_tick_time()
        if i < len(events) and (t_k is None or handled_before_tick(events[i][0], t_k)):
            t, tick, msg = events[i]
            out.extend((t, tick, m) for m in engine.handle(msg, t) + hear(msg, t))
            pedal = msg.type == "control_change" and msg.control == SUSTAIN and msg.value >= PEDAL_DOWN
            if (is_note_on(msg) or pedal) and grid.hear(t, PEDAL if pedal else msg.note) is not None:
                out.extend((t, tick, m) for m in engine.stop() + (answerer.stop() if answerer else []))  # as the live bridge's start: afresh
                engine.reset()
            i += 1
            continue
        answering = answerer is not None and answerer.pending
        if t_k is None or (i == len(events) and t_k > end_t and grid.next_step % bar_steps == 0 and not answering):
            break  # the file's grid is done, or the follower has passed the last event and ended its bar
        tick = grid.due(t_k)
        if tick.step < 0:
            continue  # a count-in: no parts yet
        if answered is not None:
            steps[answered] = engine.last_step  # as finally answered (after any late re-answer)
        if tick.step % spb == 0:
            beats.append(tick.t)
        out.extend((tick.t, file_tick(tick.step, tick.t), m)
                   for m in engine.tick(tick.step, tick.t, tick.step_seconds, bar_beats)
                   + (answerer.tick(tick.step, tick.t, tick.step_seconds) if answerer else []))
        heard[tick.step] = engine.heard
        answered = tick.step
        if show and tick.step % 256 == 0:
            _progress(tick.step, n_steps, last_pct)
        if len(steps) > MAX_STEPS:
            raise MidiFileError(f"{mel.name}: the melody lasts more than the limit of {MAX_STEPS} steps")
    for t, tick, msg in events[i:]:
        out.extend((t, tick, m) for m in engine.handle(msg, t) + hear(msg, t))
    if answered is not None:
        steps[answered] = engine.last_step
    n_steps = max(steps, default=-1) + 1
    last_t = max(grid.next_tick_time() or 0.0, end_t)
    last_tick = max(file_tick(n_steps, last_t), end_tick)
    out.extend((seconds(last_tick), last_tick, m) for m in engine.stop() + (answerer.stop() if answerer else []))
    if show:
        _progress(n_steps, n_steps, last_pct)
    faults = sum(1 for s in steps.values() if s is None)
    first_step_seconds = seconds(step_ticks) if clock is None else (beats[1] - beats[0]) / spb if len(beats) > 1 else clock.step_seconds
    channels = settings.part_channels
    # In answer mode the answers are the one voice Sideman plays.
    names, voiced = (contract.part_names, channels) if answerer is None else (("answer",), (answerer.settings.channel,))
    parts = [(name, [(tick, m) for _, tick, m in out if m.channel == ch])
             for k, (name, ch) in enumerate(zip(names, voiced)) if answerer is not None or k not in settings.muted_parts]
    midi = write_midi(mel, parts, None if tempo_bpm is None else tempo_map.tempos[0])
    timed = [(t, m) for t, _, m in out]
    notes = _notes(mel, tempo_map, "lead") + _part_notes(timed, voiced, names)
    return RenderResult(midi, tuple(notes), ("lead", *names), tuple(steps.get(k) for k in range(n_steps)),
                        tuple(timed), mido.tempo2bpm(tempo_map.tempos[0]), bar_beats, first_step_seconds,
                        engine.reanswer_count, engine.revoiced_count, faults, tempo_map, spb, channels,
                        tuple(heard.get(k) for k in range(n_steps)), tuple(beats))


def _pair_notes(timed: list[tuple[float, mido.Message]], voice: str, end: float) -> list[Note]:
    """Note-on/off pairs per (channel, pitch); a re-strike ends the previous note; leftovers end at `end`."""
    open_: dict[tuple[int, int], tuple[float, int]] = {}
    notes: list[Note] = []
    for t, m in timed:
        if m.type not in ("note_on", "note_off"):
            continue
        key = (m.channel, m.note)
        if key in open_:  # its note-off, or a re-strike that ends it
            start, vel = open_.pop(key)
            notes.append(Note(voice, m.note, start, t, vel))
        if is_note_on(m):
            open_[key] = (t, m.velocity)
    notes += [Note(voice, key[1], start, end, vel) for key, (start, vel) in open_.items()]
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def _notes(mel: Melody, tempo_map: TempoMap, voice: str) -> list[Note]:
    timed = [(tempo_map.seconds(tick), m) for tick, m in mel.events]
    end = timed[-1][0] if timed else 0.0
    return _pair_notes(timed, voice, end)


def _part_notes(out: list[tuple[float, mido.Message]], channels: tuple[int, ...], names: tuple[str, ...]) -> list[Note]:
    notes: list[Note] = []
    end = out[-1][0] if out else 0.0
    for ch, name in zip(channels, names):
        notes += _pair_notes([(t, m) for t, m in out if m.type in ("note_on", "note_off") and m.channel == ch], name, end)
    return notes
