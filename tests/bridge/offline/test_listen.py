"""`sideman listen`: per bar, the key heard at its end and the chord of each beat, as JSON lines."""

from __future__ import annotations

import json
from collections import Counter

from sideman.bridge.cli import main
from sideman.bridge.listen.names import N_CHORDS, chord_name
from sideman.bridge.offline.render import DEMO_MELODY


def test_listen_json_is_one_object_per_bar_with_the_key_and_a_chord_per_beat(capsys):
    assert main(["listen", str(DEMO_MELODY), "--json"]) == 0
    bars = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [b["bar"] for b in bars] == list(range(1, len(bars) + 1)) and len(bars) >= 8
    for b in bars:
        assert set(b) == {"bar", "key", "confidence", "chords", "beats"}
        assert 0.0 <= b["confidence"] <= 1.0 and len(b["chords"]) == 4
        assert b["key"].endswith(" major") or b["key"].endswith(" minor")
    # Old Hundredth is in G: heard so in most bars once the opening is past.
    assert Counter(b["key"] for b in bars[2:]).most_common(1)[0][0] == "G major"


def test_listen_without_json_is_a_line_per_bar(capsys):
    assert main(["listen", str(DEMO_MELODY)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("bar   1: ") and len(lines) >= 8


def test_listen_with_the_recogniser_hears_old_hundredth_in_g_from_the_first_bar(capsys):
    assert main(["listen", str(DEMO_MELODY), "--json", "--listener"]) == 0
    bars = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [b["bar"] for b in bars] == list(range(1, 13))  # four lines of three 4/4 bars
    chords = {chord_name(c) for c in range(N_CHORDS)}
    for b in bars:
        assert {"bar", "key", "confidence", "chords"} <= set(b) and 0.0 < b["confidence"] <= 1.0
        assert len(b["chords"]) == 4 and set(b["chords"]) <= chords
    assert {b["key"] for b in bars} == {"G major"}


def test_listen_json_lists_the_beats_the_follower_heard_in_each_bar(tmp_path, capsys):
    from tests.bridge.offline.test_render import ramped_performance

    mid, step_time = ramped_performance(bars=16, start_bpm=100.0, end_bpm=110.0)
    path = tmp_path / "performance.mid"
    mid.save(path)
    assert main(["listen", str(path), "--json"]) == 0
    bars = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    beats = [t for b in bars for t in b["beats"]]
    assert beats == sorted(beats) and len(beats) >= 50  # the first notes are listened to, then every beat
    for b in bars:  # each beat in the bar it was heard in (the file's bars: four beats of its tempo map)
        assert all(step_time(16 * (b["bar"] - 1)) - 0.001 <= t < step_time(16 * b["bar"]) + 0.001 for t in b["beats"])  # 1 ms: rounded
    true_beats = [step_time(4 * k) for k in range(17 * 4)]
    assert all(min(abs(t - r) for r in true_beats) < 0.03 for t in beats[4:])  # on the true beats
