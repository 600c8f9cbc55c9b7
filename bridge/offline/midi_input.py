"""Reading a MIDI file for `sideman accompany`: its tempo map, and the line a musician would call the melody.

The melody is one channel of one track. Unless the user names them, it is the candidate line with
the highest score: the median of its top notes (the highest note at each onset) plus up to an
octave for being a single-note line, among the lines with at least a quarter of the busiest line's
onsets. So a SATB score gives the soprano, a two-hand piano file the right hand, and a type-0 file
(every part in one track) the channel that carries the tune. Channel 10 (General MIDI drums) is
never a candidate unless asked for by number: its note numbers are instruments, not pitches.

Times stay in file ticks; `TempoMap` turns ticks into seconds and back, following every tempo change.
"""

from __future__ import annotations

import bisect
import heapq
import os
import statistics
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import mido

from sideman.bridge.errors import MidiFileError
from sideman.bridge.midi import PERCUSSION_CHANNEL, is_note_off, is_note_on

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_EVENTS = 200_000
DEFAULT_TEMPO = 500_000  # microseconds per quarter note: MIDI's 120 BPM when a file sets none
CHANNEL_TYPES = ("note_on", "note_off", "control_change", "program_change", "pitchwheel", "aftertouch", "polytouch")
MONO_BONUS = 12.0  # semitones a fully single-note line gains: a tune outranks a higher chord pad
MIN_ONSET_SHARE = 0.25  # of the busiest line's onsets: a few high notes are an ornament, not the tune


class TempoMap:
    """File ticks <-> seconds under the file's set_tempo messages (piecewise-constant tempo)."""

    def __init__(self, ticks_per_beat: int, changes: list[tuple[int, int]]) -> None:
        """`changes`: (tick, microseconds per beat) in any order; a later change at the same tick wins."""
        self.ticks_per_beat = ticks_per_beat
        first = [(0, DEFAULT_TEMPO)] if not changes or min(t for t, _ in changes) > 0 else []
        self.segments: list[tuple[int, float, int]] = []  # (start tick, start second, tempo)
        for tick, tempo in first + sorted(changes, key=lambda c: c[0]):
            if self.segments and self.segments[-1][0] == tick:
                self.segments[-1] = (tick, self.segments[-1][1], tempo)
            elif self.segments and self.segments[-1][2] == tempo:
                continue
            else:
                self.segments.append((tick, self._seconds_in(self.segments, tick), tempo))
        self._ticks = [s[0] for s in self.segments]
        self._seconds = [s[1] for s in self.segments]

    def _seconds_in(self, segments: list[tuple[int, float, int]], tick: int | Fraction) -> float:
        if not segments:
            return 0.0
        start, second, tempo = segments[-1]
        return second + float(tick - start) * tempo / (1e6 * self.ticks_per_beat)

    @classmethod
    def constant(cls, ticks_per_beat: int, tempo: int) -> "TempoMap":
        return cls(ticks_per_beat, [(0, tempo)])

    @property
    def tempos(self) -> tuple[int, ...]:
        return tuple(s[2] for s in self.segments)

    def seconds(self, tick: int | Fraction) -> float:
        i = max(0, bisect.bisect_right(self._ticks, tick) - 1)
        return self._seconds_in(self.segments[i:i + 1], tick)

    def ticks(self, second: float) -> float:
        i = max(0, bisect.bisect_right(self._seconds, second) - 1)
        start, at, tempo = self.segments[i]
        return start + (second - at) * 1e6 * self.ticks_per_beat / tempo

    def beats(self, second: float) -> float:
        return self.ticks(second) / self.ticks_per_beat


@dataclass(frozen=True)
class Line:
    """One channel of one track, as a candidate melody."""

    track: int
    channel: int  # 0-based
    notes: int
    onsets: int  # distinct onset times (a chord is one)
    top: float  # median of the highest pitch at each onset
    mono: float  # share of onsets where no other note of the line sounds

    @property
    def score(self) -> float:
        return self.top + MONO_BONUS * self.mono


@dataclass(frozen=True)
class Melody:
    """The lead as read from a file: its channel messages at absolute ticks, the tempo map, meter, and the file."""

    events: tuple[tuple[int, mido.Message], ...]  # (absolute tick, message), time order
    ticks_per_beat: int
    tempo_map: TempoMap
    numerator: int
    denominator: int
    name: str
    track: int = 0
    channel: int | None = None  # 0-based; None: every channel of the track
    source: mido.MidiFile | None = field(default=None, compare=False, repr=False)  # the whole input, kept in the output
    chosen: str = ""  # why this line, when Sideman chose it ("" when the user named it)

    @property
    def tempo(self) -> int:
        """The tempo at the start (microseconds per quarter note)."""
        return self.tempo_map.segments[0][2]

    @property
    def bpm(self) -> float:
        return mido.tempo2bpm(self.tempo)

    def used_channels(self) -> set[int]:
        """Every 0-based channel the input file sends on, in any track."""
        if self.source is None:
            return {m.channel for _, m in self.events}
        return {m.channel for t in self.source.tracks for m in t if m.type in CHANNEL_TYPES}

    def describe(self) -> str:
        """One line: which track and channel are the melody, and what happens to the rest of the file."""
        channel = "every channel" if self.channel is None else f"channel {self.channel + 1}"
        text = f"melody: track {self.track} '{self.name}', {channel}" + (f" ({self.chosen})" if self.chosen else "")
        others = len(self.source.tracks) - 1 if self.source is not None else 0
        if self.source is not None and (others or len(self.used_channels()) > 1):
            text += "; every other track and channel is kept as it was"
        return text


# -- reading -----------------------------------------------------------------------------------------

def open_midi(source: str | os.PathLike[str] | mido.MidiFile) -> tuple[mido.MidiFile, str]:
    """The file and a name for messages; MidiFileError if it is missing, too big or not MIDI."""
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


def _absolute(track: mido.MidiTrack):
    tick = 0
    for msg in track:
        tick += msg.time
        yield tick, msg


def _first_meta(mid: mido.MidiFile, kind: str) -> mido.MetaMessage | None:
    """The earliest meta message of `kind` in any track (ties: lowest track)."""
    found = [next(((tick, i, m) for tick, m in _absolute(t) if m.type == kind), None) for i, t in enumerate(mid.tracks)]
    found = [f for f in found if f is not None]
    return min(found, key=lambda f: f[:2])[2] if found else None


def tempo_map(mid: mido.MidiFile) -> TempoMap:
    changes = [(tick, m.tempo) for t in mid.tracks for tick, m in _absolute(t) if m.type == "set_tempo"]
    return TempoMap(mid.ticks_per_beat, changes)


def _line(track: int, channel: int, notes: list[tuple[int, int, int]], tpb: int) -> Line:
    """Score (start, end, pitch) notes sorted by start."""
    together = max(1, tpb // 24)  # onsets this close are one chord (a hand never strikes a chord exactly at once)
    legato = tpb // 8  # a note ending this soon after the next onset is legato, not a second voice
    sounding: list[int] = []  # end ticks, a heap
    tops, alone = [], 0
    i = 0
    while i < len(notes):
        start = notes[i][0]
        j = i
        while j < len(notes) and notes[j][0] - start <= together:
            j += 1
        while sounding and sounding[0] <= start + legato:
            heapq.heappop(sounding)
        alone += int(j - i == 1 and not sounding)
        tops.append(max(p for _, _, p in notes[i:j]))
        for _, end, _ in notes[i:j]:
            heapq.heappush(sounding, end)
        i = j
    return Line(track, channel, len(notes), len(tops), float(statistics.median(tops)), alone / len(tops))


def candidate_lines(mid: mido.MidiFile) -> list[Line]:
    """Every (track, channel) that plays notes, scored as a melody."""
    lines = []
    for index, track in enumerate(mid.tracks):
        open_: dict[tuple[int, int], list[int]] = {}
        notes: dict[int, list[tuple[int, int, int]]] = {}
        end = 0
        for tick, msg in _absolute(track):
            end = tick
            if is_note_on(msg):
                open_.setdefault((msg.channel, msg.note), []).append(tick)
            elif is_note_off(msg) and open_.get((msg.channel, msg.note)):
                start = open_[(msg.channel, msg.note)].pop(0)
                notes.setdefault(msg.channel, []).append((start, tick, msg.note))
        for (channel, pitch), starts in open_.items():
            notes.setdefault(channel, []).extend((s, end, pitch) for s in starts)
        for channel, found in sorted(notes.items()):
            lines.append(_line(index, channel, sorted(found), mid.ticks_per_beat))
    return lines


def choose_line(lines: list[Line], name: str, track: int | None = None, channel: int | None = None) -> tuple[Line, int]:
    """The melody among `lines` (restricted to `track` / `channel` if given) and how many lines it was chosen from."""
    pool = [ln for ln in lines if (track is None or ln.track == track) and (channel is None or ln.channel == channel)]
    where = ("" if track is None else f" in track {track}") + ("" if channel is None else f" on channel {channel + 1}")
    if not pool:
        raise MidiFileError(f"{name}: no notes{where}")
    if channel is None:  # drums only when asked for by channel number
        tuned = [ln for ln in pool if ln.channel != PERCUSSION_CHANNEL]
        if not tuned:
            raise MidiFileError(f"{name}: the only notes{where} are drums on channel {PERCUSSION_CHANNEL + 1}; "
                                f"give --channel {PERCUSSION_CHANNEL + 1} to take them as the melody anyway")
        pool = tuned
    busiest = max(ln.onsets for ln in pool)
    eligible = [ln for ln in pool if ln.onsets >= MIN_ONSET_SHARE * busiest]
    return max(eligible, key=lambda ln: (ln.score, -ln.track, -ln.channel)), len(pool)


def read_melody(source: str | os.PathLike[str] | mido.MidiFile, track: int | None = None,
                channel: int | None = None) -> Melody:
    """The melody of a MIDI file (see the module docstring); `track` 0-based, `channel` 0-based narrow the choice."""
    mid, name = open_midi(source)
    tpb = mid.ticks_per_beat
    if not isinstance(tpb, int) or not 0 < tpb < 2**15:
        raise MidiFileError(f"{name}: time division {tpb!r} is not ticks per beat (SMPTE timing is not supported)")
    if mid.type == 2:
        raise MidiFileError(f"{name}: a type 2 MIDI file (independent patterns) is not supported; save it as type 0 or 1")
    total = sum(len(t) for t in mid.tracks)
    if total > MAX_EVENTS:
        raise MidiFileError(f"{name}: {total} events is too many for a melody (limit {MAX_EVENTS})")
    if track is not None and not 0 <= track < len(mid.tracks):
        raise MidiFileError(f"{name}: no track {track} (the file has tracks 0..{len(mid.tracks) - 1})")
    lines = candidate_lines(mid)
    line, pool = choose_line(lines, name, track, channel)
    events = tuple((tick, msg.copy(time=0)) for tick, msg in _absolute(mid.tracks[line.track])
                   if msg.type in CHANNEL_TYPES and msg.channel == line.channel)
    ts = _first_meta(mid, "time_signature")
    track_name = next((m.name for m in mid.tracks[line.track] if m.type == "track_name"), "") or "melody"
    reasons = [f"the highest single-note line of {pool}" if pool > 1 else "the only line with notes"]
    if channel is None and any(ln.channel == PERCUSSION_CHANNEL for ln in lines):
        reasons.append(f"channel {PERCUSSION_CHANNEL + 1} (drums) left out")
    given = pool == 1 and (track is not None or channel is not None)
    chosen = "" if given else "; ".join(reasons + ["--track/--channel choose another"])
    return Melody(events, tpb, tempo_map(mid), ts.numerator if ts else 4, ts.denominator if ts else 4, track_name,
                  line.track, line.channel, mid, chosen)
