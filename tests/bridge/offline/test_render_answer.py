"""`sideman accompany --mode answer`: the engine road in answer mode, on a file whose phrases leave pauses."""

from __future__ import annotations

import mido

from sideman.bridge.cli import main
from sideman.bridge.core.answer import Answerer, AnswerSettings
from sideman.bridge.core.clock import InternalClock
from sideman.bridge.core.engine import EngineSettings
from sideman.bridge.offline.render import render
from tests.bridge.live.test_loop import sounding
from tests.bridge.offline.test_render import melody_file
from tests.fakes import FakeMelody, FakeStepModel

TPB = 480
CALL = [60, 62, 64, 65, 67, 65, 64, 62]  # a note a beat: two bars


def phrases(n: int, rest_beats: int, channel: int = 0) -> mido.MidiFile:
    """`n` calls of CALL, each followed by `rest_beats` of silence, at 120 BPM."""
    notes, beat = [], 0
    for _ in range(n):
        notes += [((beat + i) * TPB, (beat + i) * TPB + TPB - 40, p) for i, p in enumerate(CALL)]
        beat += len(CALL) + rest_beats
    return melody_file(notes, tpb=TPB, channel=channel)


def answers(result, channel: int) -> list[tuple[float, int]]:
    return [(t, m.note) for t, m in result.events if m.type == "note_on" and m.velocity and m.channel == channel]


def test_each_pause_is_answered_on_its_own_channel_and_track_and_the_parts_rest() -> None:
    answerer = Answerer(FakeMelody(), AnswerSettings(channel=4))
    result = render(phrases(2, 12), FakeStepModel(), EngineSettings(part_channels=(1, 2, 3)), answerer=answerer)
    got = answers(result, 4)
    beat = 0.5
    call_ends = [(8 - 40 / TPB) * beat, (28 - 40 / TPB) * beat]
    # Each answer starts a pause (max(0.6 s, a beat) = 0.6 s) after its call's end, on the next 16th.
    starts = [min(t for t, _ in got if t > end) for end in call_ends]
    assert [round(s - e, 3) for s, e in zip(starts, call_ends)] == [0.667, 0.667]
    assert len(got) == 18  # two bars each: the first 16th (off the beat), then the fake's note a beat
    assert not [m for _, m in result.events if m.type == "note_on" and m.velocity and m.channel in (1, 2, 3)]
    assert result.voices == ("lead", "answer") and [tr.name for tr in result.midi.tracks][-1] == "answer"
    assert sounding([m for _, m in result.events]) == set()


def test_the_next_call_cuts_the_answer_short_with_its_note_off() -> None:
    answerer = Answerer(FakeMelody(), AnswerSettings(channel=4))
    result = render(phrases(2, 4), FakeStepModel(), EngineSettings(part_channels=(1, 2, 3)), answerer=answerer)
    second_call = 12 * 0.5
    heard = [(t, m) for t, m in result.events if m.channel == 4]
    assert [m.type for t, m in heard if abs(t - second_call) < 1e-6] == ["note_off"]
    assert not [m for t, m in heard if second_call < t < second_call + 7.9 * 0.5]  # silent through the call
    assert sounding([m for _, m in result.events]) == set()


def test_the_answer_moves_off_a_channel_the_file_uses() -> None:
    answerer = Answerer(FakeMelody(), AnswerSettings(channel=4))
    result = render(phrases(1, 12, channel=4), FakeStepModel(), EngineSettings(part_channels=(1, 2, 3)), answerer=answerer)
    channels = {m.channel for t, m in result.events if m.type == "note_on" and m.velocity}
    assert 4 not in channels and len(channels) == 1


def test_a_follow_clock_keeps_ticking_until_the_last_call_is_answered() -> None:
    answerer = Answerer(FakeMelody(), AnswerSettings(channel=4))
    result = render(phrases(1, 0), FakeStepModel(), EngineSettings(part_channels=(1, 2, 3)), answerer=answerer,
                    clock=InternalClock(120.0, 4))
    assert len(answers(result, 4)) == 9 and sounding([m for _, m in result.events]) == set()


def test_the_command_writes_the_answers(tmp_path, capsys) -> None:
    src, out = tmp_path / "calls.mid", tmp_path / "answered.mid"
    phrases(2, 12).save(src)
    assert main(["accompany", str(src), "-o", str(out), "--mode", "answer"]) == 0
    assert "answer notes" in capsys.readouterr().out
    written = mido.MidiFile(out)
    track = next(tr for tr in written.tracks if tr.name == "answer")
    assert sum(1 for m in track if m.type == "note_on" and m.velocity) >= 4
