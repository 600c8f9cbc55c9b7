"""The session journal: an append-only text log of a live session, and its conversion to a MIDI file.

Format, version 1 — UTF-8 text, one event per line, appended as the session happens:

    # sideman-journal 1 {"tempo_bpm": 120.0, "beats_per_bar": 4, "part_names": ["alto", ...], ...}
    0.000000 in 90 3c 64              bytes the musician played (seconds from the session's first event)
    0.004210 out 91 40 50             bytes Sideman sent
    1.000000 mark tempo bpm=120.0     a mark: its kind, then key=value fields whose values are JSON

A reader ignores a last line without its newline (the writer was killed mid-line) and skips, counting,
any other line it cannot parse, so a damaged journal still yields everything that is readable.

The MIDI file is type 1, 480 ticks per beat: track 0 holds the time signature, the tempo (header tempo,
then every `tempo` mark) and the other marks as markers; then the input track; then one track per part
(the output on that part's channel); then "other" for output on any other channel, if there is some.
Only channel messages go into the file: MIDI clock, other real-time, system common and SysEx bytes stay
in the journal. Every note still sounding at the end is ended at the session's last event time.
"""

from __future__ import annotations

import bisect
import dataclasses
import errno
import io
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import mido

from sideman.bridge.errors import RecordingError
from sideman.bridge.midi import ALL_NOTES_OFF, ALL_SOUND_OFF, NOTE_ON

MAGIC = "# sideman-journal"
VERSION = 1
TICKS_PER_BEAT = 480
MIN_BPM, MAX_BPM = 4.0, 1000.0  # a MIDI tempo is at most 2**24 - 1 microseconds a beat: about 3.6 bpm
_FIELD = re.compile(r'\s*([A-Za-z_]\w*)=("(?:[^"\\]|\\.)*"|[^\s"]+)')


@dataclass(frozen=True)
class SessionInfo:
    """What a journal needs to become a MIDI file; written as its first line."""

    tempo_bpm: float
    beats_per_bar: int
    part_names: tuple[str, ...]
    part_channels: tuple[int, ...]  # 0-based MIDI channels, one per part
    model: str = ""
    started_at: str = ""  # ISO 8601 local time; SessionRecorder fills it in when empty

    def __post_init__(self) -> None:
        if not MIN_BPM <= self.tempo_bpm <= MAX_BPM:
            raise ValueError(f"tempo_bpm must be {MIN_BPM}..{MAX_BPM}, not {self.tempo_bpm!r}")
        if not 1 <= self.beats_per_bar <= 255:
            raise ValueError(f"beats_per_bar must be 1..255, not {self.beats_per_bar!r}")
        if len(self.part_names) != len(self.part_channels):
            raise ValueError(f"{len(self.part_names)} part names but {len(self.part_channels)} part channels")
        if not all(0 <= c <= 15 for c in self.part_channels):
            raise ValueError(f"part channels are 0-based (0..15): {self.part_channels}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SessionInfo":
        """Parse a header's JSON; raises ValueError (or KeyError/TypeError) when it is not one."""
        doc = json.loads(text)
        return cls(tempo_bpm=float(doc["tempo_bpm"]), beats_per_bar=int(doc["beats_per_bar"]),
                   part_names=tuple(str(n) for n in doc["part_names"]), part_channels=tuple(int(c) for c in doc["part_channels"]),
                   model=str(doc.get("model", "")), started_at=str(doc.get("started_at", "")))


# Used when a journal's header is damaged: the events are still worth recovering.
UNKNOWN_SESSION = SessionInfo(tempo_bpm=120.0, beats_per_bar=4, part_names=(), part_channels=())


class Event(NamedTuple):
    t: float  # seconds from the session's first event
    kind: str  # "in", "out" or "mark"
    data: bytes = b""  # the MIDI bytes of an "in" or "out" event
    name: str = ""  # a mark's kind ("start", "stop", "tempo", "fault", ...)
    fields: dict[str, Any] | None = None  # a mark's fields


@dataclass(frozen=True)
class Journal:
    info: SessionInfo
    events: list[Event]
    corrupt_lines: tuple[int, ...]  # 1-based numbers of the lines that were skipped
    truncated: bool  # the last line had no newline and was ignored


# -- writing -----------------------------------------------------------------------------------------

def header_line(info: SessionInfo) -> str:
    return f"{MAGIC} {VERSION} {info.to_json()}\n"


def midi_line(t: float, direction: str, data: bytes) -> str:
    return f"{t:.6f} {direction} {data.hex(' ')}".rstrip() + "\n"


def mark_line(t: float, name: str, fields: dict[str, Any]) -> str:
    # default=str: a field the caller passed as some object still lands in the journal, as text.
    return " ".join([f"{t:.6f} mark {name}", *(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())]) + "\n"


# -- reading -----------------------------------------------------------------------------------------

def parse_line(line: str) -> Event:
    """One event line to an Event; raises ValueError if the line is damaged."""
    parts = line.split(None, 2)
    if len(parts) < 2:
        raise ValueError("too short")
    t = float(parts[0])
    if not math.isfinite(t):
        raise ValueError("time is not finite")
    rest = parts[2] if len(parts) == 3 else ""
    if parts[1] in ("in", "out"):
        return Event(t, parts[1], data=bytes.fromhex(rest))
    if parts[1] == "mark":
        name, _, text = rest.partition(" ")
        if not name.isidentifier():
            raise ValueError("bad mark name")
        fields: dict[str, Any] = {}
        pos = 0
        while text[pos:].strip():
            m = _FIELD.match(text, pos)
            if m is None:
                raise ValueError("bad mark field")
            fields[m.group(1)] = json.loads(m.group(2))
            pos = m.end()
        return Event(t, "mark", name=name, fields=fields)
    raise ValueError(f"unknown event kind {parts[1]!r}")


def parse_journal(text: str, source: str) -> Journal:
    """Parse a whole journal. Raises RecordingError only if it is not a Sideman journal at all."""
    lines = text.split("\n")
    tail = lines.pop()  # "" when the text ends with a newline; otherwise a line cut short
    if not lines:
        raise RecordingError(f"{source}: not a complete sideman journal (no header line)")
    header = lines[0].rstrip("\r")
    if not header.startswith(MAGIC + " "):
        raise RecordingError(f"{source}: not a sideman journal (it should start with '{MAGIC}')")
    version, _, info_json = header[len(MAGIC) + 1:].partition(" ")
    if version != str(VERSION):
        raise RecordingError(f"{source}: journal format version {version!r}; this sideman reads version {VERSION}")
    corrupt = []
    try:
        info = SessionInfo.from_json(info_json)
    except (ValueError, KeyError, TypeError):
        info = UNKNOWN_SESSION
        corrupt.append(1)
    events = []
    for number, line in enumerate(lines[1:], start=2):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            events.append(parse_line(line))
        except (ValueError, TypeError):  # json.loads and bytes.fromhex raise ValueError subclasses
            corrupt.append(number)
    return Journal(info, events, tuple(corrupt), truncated=bool(tail))


# -- to MIDI -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MidiSummary:
    messages: int  # channel messages taken from the journal
    notes: int  # note-ons among them, played or sent (none: a session with nothing to keep)
    skipped: int  # in/out events with no place in a MIDI file (clock, real-time, SysEx, malformed bytes)
    closed_notes: int  # notes still sounding at the end, given a note-off at the last event time
    tracks: tuple[str, ...]


class _TempoMap:
    """Seconds to ticks under a piecewise-constant tempo (microseconds per beat)."""

    def __init__(self, initial: int, changes: list[tuple[float, int]]) -> None:
        self.segments = [(0.0, 0, initial)]  # (start second, start tick, tempo)
        for second, tempo in sorted(changes, key=lambda c: c[0]):
            start, tick, current = self.segments[-1]
            if second <= start:
                self.segments[-1] = (start, tick, tempo)
            else:
                self.segments.append((second, tick + mido.second2tick(second - start, TICKS_PER_BEAT, current), tempo))
        self._starts = [s[0] for s in self.segments]

    def tick(self, second: float) -> int:
        start, tick, tempo = self.segments[max(0, bisect.bisect_right(self._starts, second) - 1)]
        return tick + mido.second2tick(second - start, TICKS_PER_BEAT, tempo)


_DATA_LENGTH = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_TYPES = {0x80: "note_off", 0x90: "note_on", 0xA0: "polytouch", 0xB0: "control_change", 0xC0: "program_change",
          0xD0: "aftertouch", 0xE0: "pitchwheel"}


def _is_channel_message(data: bytes) -> bool:
    """A complete, valid channel message (checked by hand: mido's checks cost ~10 µs a message)."""
    return (bool(data) and 0x80 <= data[0] <= 0xEF and len(data) == 1 + _DATA_LENGTH[data[0] & 0xF0]
            and all(b < 0x80 for b in data[1:]))


def _message(data: bytes, time: int) -> mido.Message:
    """A mido message from bytes _is_channel_message() accepted, without re-checking them (a long session
    has hundreds of thousands: mido's own checks would make closing it take many seconds)."""
    kind, channel = data[0] & 0xF0, data[0] & 0x0F
    if kind == 0x80 or kind == 0x90:
        fields = {"note": data[1], "velocity": data[2]}
    elif kind == 0xA0:
        fields = {"note": data[1], "value": data[2]}
    elif kind == 0xB0:
        fields = {"control": data[1], "value": data[2]}
    elif kind == 0xC0:
        fields = {"program": data[1]}
    elif kind == 0xD0:
        fields = {"value": data[1]}
    else:
        fields = {"pitch": (data[1] | data[2] << 7) - 8192}
    return mido.Message(_TYPES[kind], skip_checks=True, channel=channel, time=time, **fields)


def _latin1(text: str) -> str:
    # MIDI meta text is bytes; mido writes it as latin-1 and refuses anything else.
    return text.encode("latin-1", "replace").decode("latin-1")


def _end_every_note(timed: list[tuple[float, bytes]], end: float) -> tuple[list[tuple[float, bytes]], int]:
    """Add the note-offs the file needs so every note-on ends: explicit ones where an All Notes/Sound Off
    ended notes live (a DAW would not read the CC that way), and at `end` for notes still sounding."""
    held: dict[tuple[int, int], int] = {}
    out = []
    for t, data in timed:
        kind, channel = data[0] & 0xF0, data[0] & 0x0F
        if kind == 0x90 and data[2] > 0:
            held[(channel, data[1])] = held.get((channel, data[1]), 0) + 1
        elif kind == 0x80 or kind == 0x90:
            key = (channel, data[1])
            if held.get(key, 0) > 1:
                held[key] -= 1
            else:
                held.pop(key, None)
        elif kind == 0xB0 and data[1] in (ALL_SOUND_OFF, ALL_NOTES_OFF):
            for key in sorted(k for k in held if k[0] == channel):
                out += [(t, bytes((0x80 | channel, key[1], 0)))] * held.pop(key)
        out.append((t, data))
    closed = [(end, bytes((0x80 | ch, note, 0))) for (ch, note), n in sorted(held.items()) for _ in range(n)]
    return out + closed, len(closed)


def _track(name: str, timed: list[tuple[float, bytes]], tempo_map: _TempoMap, end_tick: int) -> mido.MidiTrack:
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=_latin1(name))])
    previous = 0
    for t, data in timed:
        tick = tempo_map.tick(t)
        track.append(_message(data, tick - previous))
        previous = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - previous)))
    return track


def _mark_text(event: Event) -> str:
    return " ".join([event.name, *(f"{k}={v}" for k, v in (event.fields or {}).items())])


def build_midi(journal: Journal) -> tuple[mido.MidiFile, MidiSummary]:
    """The MIDI file of a parsed journal (see the module docstring for its layout)."""
    info, events = journal.info, journal.events
    # An input stamped by the driver just before the first recorded event has a negative time:
    # shift everything so the file starts at the earliest event.
    shift = min([0.0, *(e.t for e in events)])
    end = max([0.0, *(e.t for e in events)]) - shift
    tempo_changes, markers = [], []
    for e in events:
        if e.kind != "mark":
            continue
        bpm = (e.fields or {}).get("bpm")
        if e.name == "tempo" and isinstance(bpm, (int, float)) and MIN_BPM <= bpm <= MAX_BPM:
            tempo_changes.append((e.t - shift, mido.bpm2tempo(bpm)))
        else:
            markers.append((e.t - shift, mido.MetaMessage("marker", text=_latin1(_mark_text(e)))))
    tempo_map = _TempoMap(mido.bpm2tempo(info.tempo_bpm), tempo_changes)
    end_tick = tempo_map.tick(end)

    part_of_channel: dict[int, int] = {}
    for index, channel in enumerate(info.part_channels):
        part_of_channel.setdefault(channel, index)  # two parts on one channel: the first one gets it
    played: list[tuple[float, bytes]] = []
    parts: list[list[tuple[float, bytes]]] = [[] for _ in info.part_names]
    other: list[tuple[float, bytes]] = []
    skipped = 0
    for e in events:
        if e.kind == "mark":
            continue
        if not _is_channel_message(e.data):
            skipped += 1
        elif e.kind == "in":
            played.append((e.t - shift, e.data))
        else:
            index = part_of_channel.get(e.data[0] & 0x0F)
            (other if index is None else parts[index]).append((e.t - shift, e.data))

    conductor = [(0.0, mido.MetaMessage("time_signature", numerator=info.beats_per_bar, denominator=4))]
    if info.model:
        conductor.append((0.0, mido.MetaMessage("text", text=_latin1(f"model: {info.model}"))))
    # set_tempo at the exact tick of each tempo segment, so the file's timing matches the conversion.
    tempo_events = [(tick, mido.MetaMessage("set_tempo", tempo=tempo)) for _, tick, tempo in tempo_map.segments]
    title = f"sideman session {info.started_at}".strip()
    track0 = mido.MidiTrack([mido.MetaMessage("track_name", name=_latin1(title))])
    timeline = sorted([(0, m) for _, m in conductor] + tempo_events + [(tempo_map.tick(t), m) for t, m in markers], key=lambda x: x[0])
    previous = 0
    for tick, msg in timeline:
        track0.append(msg.copy(time=tick - previous))
        previous = tick
    track0.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - previous)))

    named = [("input", played), *zip(info.part_names, parts)] + ([("other", other)] if other else [])
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track0)
    closed = 0
    for name, timed in named:
        timed, n = _end_every_note(sorted(timed, key=lambda x: x[0]), end)  # stable: same-time events keep their order
        closed += n
        midi.tracks.append(_track(name, timed, tempo_map, end_tick))
    messages = len(played) + sum(map(len, parts)) + len(other)
    notes = sum(1 for group in (played, other, *parts) for _, data in group if data[0] & 0xF0 == NOTE_ON and data[2] > 0)
    return midi, MidiSummary(messages, notes, skipped, closed, tuple(name for name, _ in named))


# -- files -------------------------------------------------------------------------------------------

def free_path(path: Path) -> Path:
    """`path`, or `stem-1.suffix`, `stem-2.suffix`, ... — the first name not taken: never overwrite."""
    n = 0
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable (best effort: not every OS can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_midi_bytes(data: bytes, tracks: int) -> None:
    """Walk a Standard MIDI File's chunks: a header, then `tracks` track chunks that exactly fill the file,
    each ending with End of Track. Raises ValueError otherwise."""
    if len(data) < 14 or data[:4] != b"MThd" or int.from_bytes(data[4:8], "big") != 6:
        raise ValueError("no MIDI header")
    if int.from_bytes(data[10:12], "big") != tracks:
        raise ValueError("wrong track count")
    pos = 14
    for _ in range(tracks):
        size = int.from_bytes(data[pos + 4:pos + 8], "big")
        if data[pos:pos + 4] != b"MTrk" or pos + 8 + size > len(data) or data[pos + 8 + size - 3:pos + 8 + size] != b"\xff\x2f\x00":
            raise ValueError(f"damaged track chunk at byte {pos}")
        pos += 8 + size
    if pos != len(data):
        raise ValueError("bytes after the last track")


def save_midi(midi: mido.MidiFile, path: Path) -> None:
    """Write atomically (temp file, fsync, rename), then read it back. Raises OSError on any failure.

    Reading back compares the file with the bytes meant for it and walks its chunks; a full mido parse
    would cost ~45 µs a message, many seconds at the end of a long session.
    """
    path = Path(path)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    data = buffer.getvalue()
    check_midi_bytes(data, len(midi.tracks))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_directory(path.parent)
    if path.read_bytes() != data:
        raise OSError(errno.EIO, f"{path} reads back different from what was written")


@dataclass(frozen=True)
class Conversion:
    journal: Path
    midi: Path | None  # None: the journal holds no note, so no file was written
    summary: MidiSummary
    corrupt_lines: tuple[int, ...]
    truncated: bool

    def describe(self) -> str:
        s = self.summary
        if self.midi is None:
            return f"{self.journal}: no notes were played, so no MIDI file"
        text = f"{self.journal} -> {self.midi}: {s.messages} messages (tracks: {', '.join(s.tracks)})"
        if self.truncated:
            text += "; partial last line ignored"
        if self.corrupt_lines:
            shown = ", ".join(map(str, self.corrupt_lines[:5])) + (", ..." if len(self.corrupt_lines) > 5 else "")
            text += f"; {len(self.corrupt_lines)} corrupt line{'s' * (len(self.corrupt_lines) > 1)} skipped (line {shown})"
        if s.skipped:
            text += f"; {s.skipped} clock/real-time/SysEx/malformed events left out"
        if s.closed_notes:
            text += f"; {s.closed_notes} hanging note{'s' * (s.closed_notes > 1)} closed"
        return text


def convert_journal(journal_path: Path, midi_path: Path | None = None) -> Conversion:
    """Read a journal and write its MIDI file (by default next to it, under a name not yet taken), unless
    it holds no note: a session where nothing was played leaves no file."""
    journal_path = Path(journal_path)
    try:
        raw = journal_path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"cannot read {journal_path}: {exc.strerror or exc}") from None
    journal = parse_journal(raw.decode("utf-8", errors="replace"), str(journal_path))
    midi, summary = build_midi(journal)
    if not summary.notes:
        return Conversion(journal_path, None, summary, journal.corrupt_lines, journal.truncated)
    target = Path(midi_path) if midi_path is not None else free_path(journal_path.with_suffix(".mid"))
    try:
        save_midi(midi, target)
    except OSError as exc:
        raise RecordingError(f"cannot write {target}: {exc.strerror or exc}") from None
    return Conversion(journal_path, target, summary, journal.corrupt_lines, journal.truncated)


def journal_to_midi(journal_path: Path, midi_path: Path | None = None) -> Path | None:
    """Convert a journal to a MIDI file; returns the MIDI file's path (None if it holds no note)."""
    return convert_journal(journal_path, midi_path).midi
