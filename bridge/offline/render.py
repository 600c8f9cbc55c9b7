"""Offline accompaniment: a melody MIDI file in, the same Engine in simulated time, a type-1 MIDI file out.

The renderer drives `sideman.bridge.core.engine.Engine` exactly as the live daemon does: it merges the melody's
messages and the grid ticks (t_k = k * step_seconds) in time order, calling `handle()` for every
message stamped at or before a tick and then `tick()`, and `stop()` at the end. So what you hear
from `sideman accompany` is what the live bridge would have played for that exact timing.

Timing: the grid and the melody share one tempo — `--tempo`, else the file's first set_tempo —
and melody times are taken in beats, so later tempo changes in the file move nothing off the grid.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import mido

from sideman.bridge.model.contract import Contract
from sideman.bridge.core.engine import Engine, EngineSettings, StepInfo, StepModel, handled_before_tick
from sideman.bridge.errors import MidiFileError, ModelError
from sideman.bridge.midi import is_note_on

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_EVENTS = 200_000
MAX_STEPS = 200_000  # ~ 1 h 40 min of 16ths at 120 BPM
MIN_BPM, MAX_BPM = 10.0, 400.0
ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEMO_MELODY = ASSETS / "demo-melody.mid"
DEFAULT_MODEL = ASSETS / "chorale-gru.onnx"
_CHANNEL_TYPES = ("note_on", "note_off", "control_change", "program_change", "pitchwheel", "aftertouch", "polytouch")


@dataclass(frozen=True)
class Melody:
    """The lead as read from a file: channel messages at absolute ticks, plus the file's meter and tempo."""

    events: tuple[tuple[int, mido.Message], ...]  # (absolute tick, message), time order
    ticks_per_beat: int
    tempo: int  # microseconds per quarter note
    numerator: int
    denominator: int
    name: str

    @property
    def bpm(self) -> float:
        return mido.tempo2bpm(self.tempo)


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
    bpm: float
    beats_per_bar: int
    step_seconds: float
    reanswers: int  # late-window re-answers
    revoiced: int  # part tokens those re-answers changed
    faults: int

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.midi.save(os.fspath(path))
        except OSError as exc:
            raise MidiFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
        return path


# -- reading ---------------------------------------------------------------------------------------

def open_midi(source: str | os.PathLike[str] | mido.MidiFile) -> tuple[mido.MidiFile, str]:
    if isinstance(source, mido.MidiFile):
        return source, source.filename or "<melody>"
    path = Path(source)
    if not path.is_file():
        raise MidiFileError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise MidiFileError(f"{path}: {size / 2**20:.1f} MB is too big for a melody (limit {MAX_FILE_BYTES // 2**20} MB)")
    try:
        return mido.MidiFile(os.fspath(path), clip=True), str(path)
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise MidiFileError(f"{path}: not a readable MIDI file ({reason})") from None


def _first_meta(mid: mido.MidiFile, kind: str) -> mido.MetaMessage | None:
    """The earliest meta message of `kind` in any track (ties: lowest track)."""
    best = None
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == kind:
                if best is None or tick < best[0]:
                    best = (tick, msg)
                break
    return None if best is None else best[1]


def read_melody(source: str | os.PathLike[str] | mido.MidiFile, track: int | None = None,
                channel: int | None = None) -> Melody:
    """The lead from a MIDI file: `track` (default: the one with the most notes), `channel` 0-based (default all)."""
    mid, name = open_midi(source)
    tpb = mid.ticks_per_beat
    if not isinstance(tpb, int) or not 0 < tpb < 2**15:
        raise MidiFileError(f"{name}: time division {tpb!r} is not ticks per beat (SMPTE timing is not supported)")
    total = sum(len(t) for t in mid.tracks)
    if total > MAX_EVENTS:
        raise MidiFileError(f"{name}: {total} events is too many for a melody (limit {MAX_EVENTS})")

    def count(t: mido.MidiTrack) -> int:
        return sum(1 for m in t if is_note_on(m) and (channel is None or m.channel == channel))

    counts = [count(t) for t in mid.tracks]
    if track is None:
        if not any(counts):
            where = "" if channel is None else f" on channel {channel + 1}"
            raise MidiFileError(f"{name}: no notes{where}")
        track = max(range(len(counts)), key=lambda i: (counts[i], -i))
    elif not 0 <= track < len(mid.tracks):
        raise MidiFileError(f"{name}: no track {track} (the file has tracks 0..{len(mid.tracks) - 1})")
    elif counts[track] == 0:
        where = "" if channel is None else f" on channel {channel + 1}"
        raise MidiFileError(f"{name}: track {track} has no notes{where}")
    events, tick = [], 0
    for msg in mid.tracks[track]:
        tick += msg.time
        if msg.type in _CHANNEL_TYPES and (channel is None or msg.channel == channel):
            events.append((tick, msg.copy(time=0)))
    tempo_msg = _first_meta(mid, "set_tempo")
    ts = _first_meta(mid, "time_signature")
    track_name = next((m.name for m in mid.tracks[track] if m.type == "track_name"), "") or "melody"
    return Melody(tuple(events), tpb, tempo_msg.tempo if tempo_msg else 500_000,
                  ts.numerator if ts else 4, ts.denominator if ts else 4, track_name)


def beats_in_bar(numerator: int, denominator: int, max_beats: int) -> int:
    """Quarter-note beats in a bar (6/8 -> 3, 5/8 -> 3, 7/8 -> 4, 12/8 -> 6), rounded half up, clipped."""
    return min(max(1, math.floor(numerator * 4 / denominator + 0.5)), max_beats)


def default_part_channels(contract: Contract) -> tuple[int, ...]:
    """0-based channels from the model's suggestions (1-based), else 2, 3, 4, ... (channel 1 is the lead's)."""
    suggested = [p.channel - 1 for p in contract.parts]
    if all(0 <= c <= 15 for c in suggested) and len(set(suggested)) == len(suggested):
        return tuple(suggested)
    return tuple(range(1, len(contract.parts) + 1))


# -- rendering -------------------------------------------------------------------------------------

def _progress(done: int, total: int, last: list[int]) -> None:
    pct = 100 * done // total
    if pct >= last[0] + 10 or done == total:
        last[0] = pct
        print(f"\raccompanying: {pct:3d}% ({done}/{total} steps)", end="\n" if done == total else "", file=sys.stderr, flush=True)


def render(melody: str | os.PathLike[str] | mido.MidiFile | Melody, model: StepModel,
           settings: EngineSettings | None = None, *, tempo_bpm: float | None = None, track: int | None = None,
           channel: int | None = None, progress: bool = False) -> RenderResult:
    """Accompany `melody` with `model` in simulated time; see the module docstring. Deterministic for a seed."""
    mel = melody if isinstance(melody, Melody) else read_melody(melody, track, channel)
    contract = model.contract
    settings = settings or EngineSettings(part_channels=default_part_channels(contract))
    tempo = mel.tempo if tempo_bpm is None else mido.bpm2tempo(tempo_bpm)
    bpm = mido.tempo2bpm(tempo)
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise MidiFileError(f"{mel.name}: tempo {bpm:.1f} BPM is outside {MIN_BPM:g}..{MAX_BPM:g}; give --tempo")
    spb = contract.steps_per_beat
    bar_beats = beats_in_bar(mel.numerator, mel.denominator, contract.max_beats_in_bar)
    tpb = mel.ticks_per_beat
    spt = tempo / 1e6 / tpb  # seconds per file tick

    def seconds(tick: Fraction | int) -> float:
        return float(tick) * spt

    step_ticks = Fraction(tpb, spb)
    # The grid as the live internal clock computes it (t_k = k * step_seconds); melody times come
    # from file ticks. Equal moments computed both ways differ only in the last bits, which the
    # engine's SAME_TIME tolerance absorbs.
    step_seconds = 60.0 / (bpm * spb)
    end_tick = max((tick for tick, _ in mel.events), default=0)
    last_on = max((tick for tick, m in mel.events if is_note_on(m)), default=0)
    # Enough steps for the last onset and the last note-off, rounded up to a whole bar.
    needed = max(math.ceil(end_tick / step_ticks), math.floor(last_on / step_ticks) + 1)
    bar_steps = bar_beats * spb
    n_steps = max(1, math.ceil(needed / bar_steps)) * bar_steps
    if n_steps > MAX_STEPS:
        raise MidiFileError(f"{mel.name}: the melody lasts {n_steps} steps, more than the limit of {MAX_STEPS}")

    engine = Engine(model, settings)
    engine.reset()
    out: list[tuple[float, mido.Message]] = []
    steps: list[StepInfo | None] = []
    events = mel.events
    i, last_pct, show = 0, [-10], progress and n_steps >= 4000
    for k in range(n_steps):
        t_k = k * step_seconds
        while i < len(events) and handled_before_tick(seconds(events[i][0]), t_k):
            t = seconds(events[i][0])
            out.extend((t, m) for m in engine.handle(events[i][1], t))
            i += 1
        if k:
            steps.append(engine.last_step)  # step k-1 as finally answered (after any late re-answer)
        t = t_k
        out.extend((t, m) for m in engine.tick(k, t, step_seconds, bar_beats))
        if show and k % 256 == 0:
            _progress(k, n_steps, last_pct)
    for tick, msg in events[i:]:
        out.extend((seconds(tick), m) for m in engine.handle(msg, seconds(tick)))
    steps.append(engine.last_step)
    end_t = max(n_steps * step_seconds, seconds(end_tick))
    out.extend((end_t, m) for m in engine.stop())
    if show:
        _progress(n_steps, n_steps, last_pct)
    faults = sum(1 for s in steps if s is None)
    midi = _write_midi(mel, contract, settings, out, tempo, spt)
    notes = _notes(mel, spt, "lead") + _part_notes(out, settings.part_channels, contract.part_names)
    return RenderResult(midi, tuple(notes), ("lead", *contract.part_names), tuple(steps), tuple(out), bpm,
                        bar_beats, step_seconds, engine.reanswer_count, engine.revoiced_count, faults)


def _delta_track(name: str, timed: list[tuple[int, mido.Message]]) -> mido.MidiTrack:
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    now = 0
    for tick, msg in timed:  # already in time order (stable for equal ticks)
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _write_midi(mel: Melody, contract: Contract, settings: EngineSettings, out: list[tuple[float, mido.Message]],
                tempo: int, spt: float) -> mido.MidiFile:
    conductor = mido.MidiTrack([
        mido.MetaMessage("track_name", name="sideman", time=0),
        mido.MetaMessage("set_tempo", tempo=tempo, time=0),
        mido.MetaMessage("time_signature", numerator=max(1, min(mel.numerator, 255)), denominator=mel.denominator, time=0),
        mido.MetaMessage("end_of_track", time=0),
    ])
    tracks = [conductor, _delta_track(mel.name, list(mel.events))]
    for k, part in enumerate(contract.parts):
        ch = settings.part_channels[k]
        timed = [(round(t / spt), m) for t, m in out if m.channel == ch]
        tracks.append(_delta_track(part.name, timed))
    return mido.MidiFile(type=1, ticks_per_beat=mel.ticks_per_beat, tracks=tracks)


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


def _notes(mel: Melody, spt: float, voice: str) -> list[Note]:
    timed = [(tick * spt, m) for tick, m in mel.events]
    end = timed[-1][0] if timed else 0.0
    return _pair_notes(timed, voice, end)


def _part_notes(out: list[tuple[float, mido.Message]], channels: tuple[int, ...], names: tuple[str, ...]) -> list[Note]:
    notes: list[Note] = []
    end = out[-1][0] if out else 0.0
    for ch, name in zip(channels, names):
        notes += _pair_notes([(t, m) for t, m in out if m.type in ("note_on", "note_off") and m.channel == ch], name, end)
    return notes


# -- commands --------------------------------------------------------------------------------------

def load_model(path: str | os.PathLike[str] | None) -> StepModel:
    """The ONNX model at `path` (default: the shipped chorale model); ModelError if it is missing or bad."""
    from sideman.bridge.model.runtime import OnnxStepModel

    path = Path(path) if path else DEFAULT_MODEL
    if not path.is_file():
        if path == DEFAULT_MODEL:
            raise ModelError(f"{path}: the default model is not there yet; train and export one "
                             f"(sideman train && sideman export) or pass --model PATH")
        raise ModelError(f"{path}: no such model file")
    return OnnxStepModel.load(path)


def _settings(args: argparse.Namespace, contract: Contract) -> EngineSettings:
    try:
        settings = EngineSettings(part_channels=default_part_channels(contract), seed=args.seed,
                                  temperature=args.temperature, lead_policy=args.lead_policy)
        settings.validate(len(contract.parts))
    except ValueError as exc:
        from sideman.bridge.errors import ConfigError

        raise ConfigError(str(exc)) from None
    return settings


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="PATH", help=f"ONNX model file (default: the shipped {DEFAULT_MODEL.name})")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same file (default 0)")
    p.add_argument("--temperature", type=float, default=EngineSettings.temperature,
                   help=f"sampling temperature, > 0 (default {EngineSettings.temperature:g}, as `sideman run`)")
    p.add_argument("--lead-policy", choices=("highest", "lowest", "latest"), default="highest",
                   help="which of several held notes is the melody (default highest)")


def add_accompany_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("melody", metavar="MELODY.mid", help="MIDI file holding the melody")
    p.add_argument("-o", "--output", required=True, metavar="JAM.mid", help="where to write the accompanied MIDI file")
    p.add_argument("--tempo", type=float, metavar="BPM", help="tempo (default: the file's own, else 120)")
    p.add_argument("--png", metavar="ROLL.png", help="also draw a piano roll of the result")
    p.add_argument("--track", type=int, metavar="N", help="0-based track holding the melody (default: the one with most notes)")
    p.add_argument("--channel", type=int, metavar="N", help="only this MIDI channel (1-16) of that track is the melody")
    _add_common(p)


def _report(result: RenderResult, midi_path: Path, png_path: Path | None) -> None:
    parts = sum(1 for n in result.notes if n.voice != "lead")
    bars = result.n_steps / (result.beats_per_bar * 4)
    print(f"wrote {midi_path}  ({bars:g} bars at {result.bpm:g} BPM, {parts} part notes, "
          f"{result.reanswers} late-note re-answers, {result.faults} model faults)")
    if png_path is not None:
        print(f"wrote {png_path}")


def cmd_accompany(args: argparse.Namespace) -> int:
    from sideman.bridge.errors import ConfigError

    if args.tempo is not None and not MIN_BPM <= args.tempo <= MAX_BPM:
        raise ConfigError(f"--tempo {args.tempo:g}: give a tempo between {MIN_BPM:g} and {MAX_BPM:g} BPM")
    if args.channel is not None and not 1 <= args.channel <= 16:
        raise ConfigError(f"--channel {args.channel}: MIDI channels are 1..16")
    melody = read_melody(args.melody, args.track, None if args.channel is None else args.channel - 1)
    model = load_model(args.model)
    settings = _settings(args, model.contract)
    result = render(melody, model, settings, tempo_bpm=args.tempo, progress=True)
    midi_path = result.save(args.output)
    png_path = None
    if args.png:
        from sideman.bridge.offline.pianoroll import save_piano_roll

        png_path = save_piano_roll(result, args.png, title=f"{Path(args.melody).name} + {model.contract.name}")
    _report(result, midi_path, png_path)
    return 0


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out-dir", metavar="DIR", default=".", help="where to write sideman-demo.mid and .png (default: here)")
    _add_common(p)


def cmd_demo(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    settings = _settings(args, model.contract)
    result = render(DEMO_MELODY, model, settings)
    out_dir = Path(args.out_dir)
    midi_path = result.save(out_dir / "sideman-demo.mid")
    from sideman.bridge.offline.pianoroll import save_piano_roll

    png_path = save_piano_roll(result, out_dir / "sideman-demo.png", title=f"Old Hundredth + {model.contract.name} (seed {args.seed})")
    _report(result, midi_path, png_path)
    return 0
