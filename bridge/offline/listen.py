"""`sideman listen MELODY.mid [--json]`: what the live bridge would hear, bar by bar, from a MIDI file.

What the player plays: every note of the file but drums (channel 10) when the notes come from
several lines (tracks, or channels of one track): a melody with its accompaniment; from a single
line, its highest notes (the tune over any chords). Notes go onto the 16th-note grid of the file's
quarter note as a live session hears them (from the tick nearest the note-on, at every tick the key
is still down); the recogniser steps through them from silence, one 16th at a time, hearing only
what has sounded so far. Per bar it reports the key heard at the bar's last step, with its
probability, and the chord heard at the last step of each beat. Bars follow the file's first time
signature (in quarter-note beats: 6/8 has 3) from the file's start.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import mido

from sideman.bridge.errors import MidiFileError
from sideman.bridge.listen.features import STEPS_PER_BEAT, frames
from sideman.bridge.listen.recogniser import DEFAULT_LISTENER, Recogniser
from sideman.bridge.midi import PERCUSSION_CHANNEL, is_note_on
from sideman.bridge.offline.render import beats_in_bar, open_midi

MAX_BEATS_IN_BAR = 16
Note = tuple[int, int, int]  # (start, end, pitch): steps or ticks


@dataclass(frozen=True)
class BarHeard:
    bar: int  # 1-based
    key: str
    confidence: float
    chords: list[str]  # one per beat: the chord heard at its last 16th


def played_notes(mid: mido.MidiFile) -> tuple[list[Note], str]:
    """(start_tick, end_tick, pitch) of what the player plays, and which notes those are (for the header)."""
    lines: dict[tuple[int, int], list[Note]] = {}
    for index, track in enumerate(mid.tracks):
        tick, sounding = 0, {}  # (channel, pitch) -> start tick
        for msg in track:
            tick += msg.time
            if msg.type not in ("note_on", "note_off") or msg.channel == PERCUSSION_CHANNEL:
                continue
            key = (msg.channel, msg.note)
            if key in sounding:  # a note-off, or the same note struck again
                lines.setdefault((index, msg.channel), []).append((sounding.pop(key), tick, msg.note))
            if is_note_on(msg):
                sounding[key] = tick
        for (channel, pitch), start in sounding.items():  # held to the end of the track
            lines.setdefault((index, channel), []).append((start, tick, pitch))
    lines = {k: v for k, v in lines.items() if v}
    if not lines:
        raise MidiFileError(f"{mid.filename or 'the file'}: no notes (drums on channel 10 do not count)")
    if len(lines) > 1:
        return sorted(n for v in lines.values() for n in v), f"every note of {len(lines)} lines (tracks/channels), drums aside"
    return highest_line(next(iter(lines.values()))), "the highest line of its one line of notes"


def highest_line(notes: list[Note]) -> list[Note]:
    """The tune over any chords: the highest note of each onset, each cut where the next onset begins."""
    top: dict[int, Note] = {}
    for note in notes:
        if note[0] not in top or note[2] > top[note[0]][2]:
            top[note[0]] = note
    starts = sorted(top)
    out = []
    for i, start in enumerate(starts):
        _, end, pitch = top[start]
        end = min(end, starts[i + 1]) if i + 1 < len(starts) else end
        if end > start:
            out.append((start, end, pitch))
    return out


def to_steps(notes: list[Note], ticks_per_beat: int) -> list[Note]:
    """Ticks -> 16th-note steps as the live bridge hears them: a note counts from the tick nearest its
    start and sounds at every later tick it is still held at (at least one)."""
    per_step = ticks_per_beat / STEPS_PER_BEAT
    out = []
    for start, end, pitch in notes:
        a = round(start / per_step)
        out.append((a, max(a + 1, math.ceil(end / per_step - 1e-9)), pitch))
    return out


def hear(notes: list[Note], beats_per_bar: int, listener: Recogniser) -> list[BarHeard]:
    """Step the listener through `notes` (steps) from silence; what it hears, bar by bar (causal)."""
    steps_per_bar = beats_per_bar * STEPS_PER_BEAT
    n_bars = max(1, math.ceil(max(end for _, end, _ in notes) / steps_per_bar))
    listener.reset()
    bars, chords = [], []
    for t, (sounding, struck) in enumerate(frames(notes, n_bars * steps_per_bar)):
        heard = listener.step(sounding, struck, t % STEPS_PER_BEAT)
        if t % STEPS_PER_BEAT == STEPS_PER_BEAT - 1:
            chords.append(heard.chord_name)
        if t % steps_per_bar == steps_per_bar - 1:
            bars.append(BarHeard(len(bars) + 1, heard.key_name, round(heard.key_confidence, 3), chords))
            chords = []
    return bars


def listen_file(path: str | Path, listener: Recogniser) -> tuple[list[BarHeard], str, int]:
    """What `listener` hears in a MIDI file: bars, what was taken as played, beats per bar."""
    mid, name = open_midi(path)
    if not isinstance(mid.ticks_per_beat, int) or mid.ticks_per_beat <= 0:
        raise MidiFileError(f"{name}: time division {mid.ticks_per_beat!r} is not ticks per beat")
    notes, what = played_notes(mid)
    ts = next((m for t in mid.tracks for m in t if m.type == "time_signature"), None)
    beats = beats_in_bar(ts.numerator, ts.denominator, MAX_BEATS_IN_BAR) if ts else 4
    return hear(to_steps(notes, mid.ticks_per_beat), beats, listener), what, beats


def add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("melody", type=Path, help="a MIDI file (a tune, or a tune with its accompaniment)")
    parser.add_argument("--json", action="store_true", help='one JSON object per bar: {"bar", "key", "confidence", "chords"}')
    parser.add_argument("--listener", type=Path, default=DEFAULT_LISTENER, help="a listener ONNX file (default: the shipped one)")


def cmd_listen(args: argparse.Namespace) -> int:
    listener = Recogniser.load(args.listener)
    bars, what, beats = listen_file(args.melody, listener)
    if args.json:
        for bar in bars:
            print(json.dumps(asdict(bar)), flush=True)
        return 0
    print(f"{args.melody}: {what}; {beats} beats a bar; heard causally, as the live bridge would")
    for bar in bars:
        print(f"bar {bar.bar:3d}  {bar.key:9s} ({bar.confidence:.2f})  | " + "  ".join(f"{c:6s}" for c in bar.chords).rstrip())
    return 0
