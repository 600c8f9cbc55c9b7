"""Writes bridge/assets/demo-melody.mid, the tune `sideman demo` accompanies.

The tune is "Old Hundredth", the melody of Psalm 134 in the Genevan Psalter (1551), attributed to
Louis Bourgeois; public domain. Pitches follow the common English hymnal form in G major; rhythm
is the isometric one most hymnals print (each line: a half note, six quarters, a half note), here
followed by a half-note breath so every line fills three 4/4 bars. A chorale tune: the kind of
soprano line the default model was trained to harmonise.

Run `python -m sideman.bridge.offline.demo_melody` to rewrite the file (the output is byte-for-byte reproducible).
"""

from __future__ import annotations

import os
import sys

import mido

TITLE = "Old Hundredth (Genevan Psalter, 1551)"
BPM = 84
TICKS_PER_BEAT = 480
_G4, _A4, _B4, _C5, _D5 = 67, 69, 71, 72, 74
_D4, _E4, _FS4 = 62, 64, 66
LINES = (
    (_G4, _G4, _FS4, _E4, _D4, _G4, _A4, _B4),  # Praise God, from whom all blessings flow;
    (_B4, _B4, _B4, _A4, _G4, _C5, _B4, _A4),  # Praise him, all creatures here below;
    (_G4, _A4, _B4, _A4, _G4, _E4, _FS4, _G4),  # Praise him above, ye heavenly host:
    (_D5, _B4, _G4, _A4, _C5, _B4, _A4, _G4),  # Praise Father, Son, and Holy Ghost.
)
# Beats per note in a line: half, six quarters, half; then a half-note breath.
LINE_RHYTHM = (2, 1, 1, 1, 1, 1, 1, 2)
BREATH = 2
ARTICULATION = 0.92  # a note sounds for this share of its length, so repeated notes are heard as two


def melody_notes() -> list[tuple[float, float, int]]:
    """(start_beat, length_beats, pitch) of the whole tune."""
    notes, beat = [], 0.0
    for line in LINES:
        for pitch, length in zip(line, LINE_RHYTHM):
            notes.append((beat, float(length), pitch))
            beat += length
        beat += BREATH
    return notes


def build_demo_melody() -> mido.MidiFile:
    """The tune as a type-1 MIDI file: tempo/meter track + one melody track on channel 1."""
    tpb = TICKS_PER_BEAT
    conductor = mido.MidiTrack([
        mido.MetaMessage("track_name", name=TITLE, time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0),
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
        mido.MetaMessage("end_of_track", time=0),
    ])
    events = []
    for start, length, pitch in melody_notes():
        on = round(start * tpb)
        events.append((on, 1, pitch))
        events.append((on + round(length * tpb * ARTICULATION), 0, pitch))
    events.sort()
    melody = mido.MidiTrack([mido.MetaMessage("track_name", name="melody", time=0)])
    now = 0
    for tick, is_on, pitch in events:
        kind = "note_on" if is_on else "note_off"
        melody.append(mido.Message(kind, channel=0, note=pitch, velocity=84 if is_on else 0, time=tick - now))
        now = tick
    melody.append(mido.MetaMessage("end_of_track", time=0))
    return mido.MidiFile(type=1, ticks_per_beat=tpb, tracks=[conductor, melody])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "demo-melody.mid")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    build_demo_melody().save(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
