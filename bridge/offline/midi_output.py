"""Writing what `sideman accompany` made: the input file as it was, plus one track per part on channels of its own.

Every track of the input is kept unchanged (same ticks per beat, same tempo map, same channels), so
the melody plays exactly as it did and the user can mute whatever they like in their DAW. Only
`--tempo` changes the input: its tempo changes give way to the one tempo asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

import mido

from sideman.bridge.errors import MidiFileError
from sideman.bridge.midi import PERCUSSION_CHANNEL
from sideman.bridge.offline.midi_input import Melody


def place_parts(wanted: tuple[int, ...], used: set[int]) -> tuple[tuple[int, ...], str]:
    """Part channels (0-based) that share no channel with the input: the wanted ones if all are free, else
    the lowest free channels in part order (never 10, General MIDI's drums). Returns the channels and a
    one-line note saying what moved ("" if nothing did); MidiFileError if the input leaves too few free."""
    clashes = [c for c in wanted if c in used]
    if not clashes:
        return wanted, ""
    spare = [c for c in range(16) if c not in used and c != PERCUSSION_CHANNEL]
    if len(spare) < len(wanted):
        raise MidiFileError(f"the input uses MIDI channels {_channels(used)} and the {len(wanted)} parts need channels "
                            f"of their own: only {len(spare)} are free besides 10 (drums)")
    placed = tuple(spare[:len(wanted)])
    return placed, (f"parts on channels {_channels(placed)}: the input already uses channel"
                    f"{'s' * (len(clashes) > 1)} {_channels(clashes)}")


def _channels(channels) -> str:
    return ", ".join(str(c + 1) for c in sorted(channels))


def delta_track(name: str, timed: list[tuple[int, mido.Message]]) -> mido.MidiTrack:
    """A track named `name` from (absolute tick, message) pairs in time order."""
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    now = 0
    for tick, msg in timed:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _without_tempo(track: mido.MidiTrack) -> mido.MidiTrack:
    """`track` without its set_tempo messages, every other message at the same tick."""
    out, carried = mido.MidiTrack(), 0
    for msg in track:
        if msg.type == "set_tempo":
            carried += msg.time
        else:
            out.append(msg.copy(time=msg.time + carried) if carried else msg)
            carried = 0
    return out


def input_tracks(mel: Melody, tempo: int | None) -> list[mido.MidiTrack]:
    """The input's tracks as they were; with `tempo`, its tempo changes replaced by that one tempo at the start."""
    if mel.source is None:  # a Melody made by hand: its own events are all there is
        tracks = [delta_track(mel.name, list(mel.events))]
    else:
        tracks = [mido.MidiTrack(track) for track in mel.source.tracks]
    if tempo is None:
        return tracks
    tracks = [_without_tempo(t) for t in tracks]
    tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    return tracks


def write_midi(mel: Melody, parts: list[tuple[str, list[tuple[int, mido.Message]]]], tempo: int | None) -> mido.MidiFile:
    """A type-1 file: the input's tracks (see input_tracks), then one track per (name, timed messages)."""
    tracks = input_tracks(mel, tempo) + [delta_track(name, timed) for name, timed in parts]
    return mido.MidiFile(type=1, ticks_per_beat=mel.ticks_per_beat, tracks=tracks)


def refuse_overwriting(melody: str | os.PathLike[str], *outputs: str | os.PathLike[str] | None) -> None:
    """MidiFileError if an output path is the melody file itself (or another name for it)."""
    source = Path(melody)
    for out in outputs:
        if out is None:
            continue
        target = Path(out)
        same = target.resolve() == source.resolve()
        if not same and target.exists() and source.exists():
            same = os.path.samefile(target, source)
        if same:
            raise MidiFileError(f"{out} is the melody file itself: write to another file, so the input is kept")
