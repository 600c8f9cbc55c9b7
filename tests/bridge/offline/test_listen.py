"""`sideman listen`: what the player plays is read from the file, and one JSON object per bar comes out."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import mido
import pytest

from sideman.bridge.listen.names import N_CHORDS, chord_name, key_name
from sideman.bridge.offline.listen import highest_line, played_notes, to_steps
from tests.paths import REPO

DEMO = REPO / "bridge" / "assets" / "demo-melody.mid"
KEY_NAMES = {key_name(k) for k in range(24)}


def chord_names() -> set[str]:
    """Every chord name under any key's spelling."""
    return {chord_name(c, k) for c in range(N_CHORDS) for k in range(24)}


def midi(*tracks: list[tuple[int, int, int, int]], tpb: int = 480) -> mido.MidiFile:
    """A type-1 file: per track (channel, pitch, start tick, end tick) notes."""
    mid = mido.MidiFile(ticks_per_beat=tpb)
    for notes in tracks:
        events = sorted([(s, 1, ch, p) for ch, p, s, _ in notes] + [(e, 0, ch, p) for ch, p, _, e in notes])
        track, now = mido.MidiTrack(), 0
        for tick, on, ch, p in events:
            track.append(mido.Message("note_on" if on else "note_off", channel=ch, note=p, velocity=80 if on else 0, time=tick - now))
            now = tick
        mid.tracks.append(track)
    return mid


def test_one_line_of_chords_is_heard_as_its_highest_notes() -> None:
    mid = midi([(0, 60, 0, 480), (0, 64, 0, 480), (0, 67, 0, 240), (0, 65, 240, 480), (0, 62, 480, 960)])
    notes, what = played_notes(mid)
    assert notes == [(0, 240, 67), (240, 480, 65), (480, 960, 62)] and "highest line" in what


def test_several_lines_are_all_heard_but_the_drums() -> None:
    mid = midi([(0, 72, 0, 480)], [(1, 48, 0, 960), (9, 36, 0, 120)])
    notes, what = played_notes(mid)
    assert notes == [(0, 480, 72), (0, 960, 48)] and "2 lines" in what


def test_a_struck_again_note_ends_the_one_before_and_a_note_sounds_at_every_tick_it_is_held_at() -> None:
    mid = midi([(0, 60, 0, 400)])
    mid.tracks[0].insert(1, mido.Message("note_on", channel=0, note=60, velocity=70, time=200))  # again at tick 200
    mid.tracks[0][2].time = 200  # its note-off still at tick 400
    notes, _ = played_notes(mid)
    assert notes == [(0, 200, 60), (200, 400, 60)]
    assert to_steps(notes, 480) == [(0, 2, 60), (2, 4, 60)]  # released at 16th 3.33: still held at tick 3
    assert to_steps([(10, 480, 62)], 480) == [(0, 4, 62)]  # struck just after tick 0, released at tick 4
    assert highest_line([(0, 4, 60), (0, 2, 64), (2, 4, 62)]) == [(0, 2, 64), (2, 4, 62)]


def test_listen_json_on_the_demo_melody_is_one_object_per_bar() -> None:
    proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "listen", str(DEMO), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    bars = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [b["bar"] for b in bars] == list(range(1, 13))  # Old Hundredth: four lines of three 4/4 bars
    names = chord_names()
    for b in bars:
        assert set(b) == {"bar", "key", "confidence", "chords"}
        assert b["key"] in KEY_NAMES and re.fullmatch(r"[A-G][b#]? major|[a-g][b#]? minor", b["key"])
        assert 0 < b["confidence"] <= 1
        assert len(b["chords"]) == 4 and set(b["chords"]) <= names


def test_listen_without_json_prints_a_line_per_bar(capsys) -> None:
    from sideman.bridge.cli import main

    assert main(["listen", str(DEMO)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "highest line" in lines[0] and len(lines) == 13 and lines[1].startswith("bar   1")


@pytest.mark.parametrize("content, needle", [(None, "no such file"), (b"MThd garbage", "not a readable MIDI file")])
def test_a_bad_midi_file_is_one_line_and_exit_2(tmp_path, capsys, content, needle) -> None:
    from sideman.bridge.cli import main

    path = tmp_path / "tune.mid"
    if content is not None:
        path.write_bytes(content)
    assert main(["listen", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sideman: error:") and needle in err[0]
