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
        assert set(b) == {"bar", "key", "confidence", "chords"}
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
        assert set(b) == {"bar", "key", "confidence", "chords"} and 0.0 < b["confidence"] <= 1.0
        assert len(b["chords"]) == 4 and set(b["chords"]) <= chords
    assert {b["key"] for b in bars} == {"G major"}
