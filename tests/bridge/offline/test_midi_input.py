"""Reading the MIDI files people have: the melody a musician would pick, drums never, the tempo map kept."""

from __future__ import annotations

from fractions import Fraction

import mido
import pytest

from sideman.bridge.errors import MidiFileError
from sideman.bridge.offline.midi_input import TempoMap, candidate_lines, read_melody


def track(notes, channel=0, name=None, tpb=480) -> mido.MidiTrack:
    """notes: (start_tick, end_tick, pitch) -> a track (named if `name`)."""
    events = sorted([(s, 1, p) for s, _, p in notes] + [(e, 0, p) for _, e, p in notes])
    out = mido.MidiTrack([mido.MetaMessage("track_name", name=name)] if name else [])
    now = 0
    for tick, is_on, pitch in events:
        out.append(mido.Message("note_on", channel=channel, note=pitch, velocity=80 * is_on, time=tick - now))
        now = tick
    return out


def two_hand_piano() -> mido.MidiFile:
    """A tune in the right hand (a note a beat) over an oom-pah left hand (bass, then a chord, in 8ths): the
    left hand has four times the notes."""
    tune = [76, 74, 72, 74, 76, 76, 76, 74] * 2
    right = track([(i * 480, i * 480 + 440, p) for i, p in enumerate(tune)], name="Right hand")
    left = []
    for k in range(32):
        start = k * 240
        left += [(start, start + 220, 48)] if k % 2 == 0 else [(start, start + 220, p) for p in (55, 60, 64)]
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100))])
    return mido.MidiFile(type=1, ticks_per_beat=480, tracks=[conductor, right, track(left, name="Left hand")])


def note_ons(events) -> list[int]:
    return [m.note for _, m in events if m.type == "note_on" and m.velocity]


def test_a_two_hand_piano_file_gives_the_right_hand_not_the_busier_left():
    mid = two_hand_piano()
    counts = [sum(1 for m in t if m.type == "note_on" and m.velocity) for t in mid.tracks]
    assert counts[2] == 4 * counts[1]  # what "the track with the most notes" took: the left hand
    melody = read_melody(mid)
    assert (melody.track, melody.channel, melody.name) == (1, 0, "Right hand")
    assert note_ons(melody.events) == [76, 74, 72, 74, 76, 76, 76, 74] * 2
    assert melody.describe().startswith("melody: track 1 'Right hand', channel 1 (the highest single-note line of 2")


def test_a_satb_chorale_gives_the_soprano_though_the_tenor_has_more_notes(tmp_path):
    corpus = pytest.importorskip("music21.corpus")
    path = tmp_path / "bwv66.6.mid"
    corpus.parse("bach/bwv66.6").write("midi", fp=str(path))
    mid = mido.MidiFile(path)
    counts = {t.name: sum(1 for m in t if m.type == "note_on" and m.velocity) for t in mid.tracks if t.name}
    assert max(counts, key=counts.get) == "Tenor"  # the old rule's choice
    melody = read_melody(path)
    assert melody.name == "Soprano"
    soprano = next(t for t in mid.tracks if t.name == "Soprano")
    assert note_ons(melody.events) == [m.note for m in soprano if m.type == "note_on" and m.velocity]


def type0_band() -> mido.MidiFile:
    """One track, three channels: a tune on 1, a bass on 2 and drums on 10, the drums busiest and highest."""
    parts = [track([(i * 480, i * 480 + 440, 72 + i % 4) for i in range(16)], channel=0),
             track([(i * 240, i * 240 + 200, 40 + i % 3) for i in range(32)], channel=1),
             track([(i * 120, i * 120 + 60, 81) for i in range(64)], channel=9)]  # 81: the triangle
    return mido.MidiFile(type=0, ticks_per_beat=480, tracks=[mido.merge_tracks(parts)])


def test_a_type0_file_is_chosen_by_channel():
    melody = read_melody(type0_band())
    assert (melody.track, melody.channel) == (0, 0)
    assert set(note_ons(melody.events)) == {72, 73, 74, 75}
    assert {m.channel for _, m in melody.events} == {0}  # the bass and the drums stay out of the lead
    assert melody.used_channels() == {0, 1, 9}
    assert "channel 10 (drums) left out" in melody.describe()


def test_drums_are_never_the_melody_unless_asked_for_by_channel():
    tune = track([(i * 480, i * 480 + 440, 67 + i % 3) for i in range(16)], name="tune")
    drums = track([(i * 120, i * 120 + 60, 81 if i % 2 else 42) for i in range(128)], channel=9, name="Drums")
    mid = mido.MidiFile(type=1, ticks_per_beat=480, tracks=[mido.MidiTrack(), tune, drums])
    assert read_melody(mid).name == "tune"
    assert read_melody(mid, channel=9).name == "Drums"  # --channel 10: the user asked
    with pytest.raises(MidiFileError, match=r"the only notes in track 2 are drums on channel 10; give --channel 10"):
        read_melody(mid, track=2)
    only_drums = mido.MidiFile(type=1, ticks_per_beat=480, tracks=[drums])
    with pytest.raises(MidiFileError, match="give --channel 10"):
        read_melody(only_drums)


def test_a_few_high_notes_are_an_ornament_not_the_tune():
    tune = track([(i * 480, i * 480 + 440, 72 + i % 5) for i in range(32)], name="tune")
    bells = track([(0, 480, 96), (7680, 8160, 96)], channel=2, name="bells")
    mid = mido.MidiFile(type=1, ticks_per_beat=480, tracks=[tune, bells])
    lines = candidate_lines(mid)
    assert max(lines, key=lambda ln: ln.score).track == 1  # the bells score higher...
    assert read_melody(mid).name == "tune"  # ...but play too few notes to be the melody


def test_a_line_of_chords_scores_by_its_top_notes_and_loses_the_single_note_bonus():
    chords = track([(i * 480, i * 480 + 480, p) for i in range(8) for p in (60, 64, 67 + i % 2)])
    [line] = candidate_lines(mido.MidiFile(type=1, ticks_per_beat=480, tracks=[chords]))
    assert (line.notes, line.onsets, line.top, line.mono) == (24, 8, 67.5, 0.0)
    legato = track([(i * 480, i * 480 + 500, 60 + i) for i in range(8)])  # each note overlaps the next by 20 ticks
    [line] = candidate_lines(mido.MidiFile(type=1, ticks_per_beat=480, tracks=[legato]))
    assert line.mono == 1.0


def test_the_tempo_map_follows_every_change():
    tempo = TempoMap(480, [(960, mido.bpm2tempo(180)), (0, mido.bpm2tempo(60))])
    assert tempo.seconds(0) == 0.0 and tempo.seconds(960) == pytest.approx(2.0)
    assert tempo.seconds(960 + 480) == pytest.approx(2.0 + 1 / 3)
    assert tempo.seconds(Fraction(240)) == pytest.approx(0.5)
    for tick in (0, 100, 960, 1000, 5000):
        assert tempo.ticks(tempo.seconds(tick)) == pytest.approx(tick)
    assert tempo.beats(2.0 + 1 / 3) == pytest.approx(3.0)
    assert TempoMap(480, []).tempos == (500_000,)  # none set: MIDI's 120 BPM
    assert TempoMap(480, [(480, 600_000)]).segments[0] == (0, 0.0, 500_000)  # 120 BPM until the first change
