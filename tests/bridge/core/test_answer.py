"""The answerer: pause detection, the answer's length, key and register, and its notes ending when the player plays."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from sideman.bridge.core.answer import KEPT_NOTES, Answerer, AnswerSettings, call_key
from sideman.bridge.model.melody import MELODY_VOCAB
from tests.fakes import FakeMelody

STEP = 0.15  # seconds per 16th: 100 BPM, so one beat (0.6 s) is also the shortest pause
V = MELODY_VOCAB


def on(note: int, velocity: int = 80) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity)


def off(note: int) -> mido.Message:
    return mido.Message("note_off", note=note)


def play_call(a: Answerer, pitches: list[int], start_step: int = 0) -> list[mido.Message]:
    """One note a beat, ticking every 16th; returns what the answerer sent."""
    out = []
    for i, p in enumerate(pitches):
        for k in range(4):
            step = start_step + 4 * i + k
            if k == 0:
                out += a.hear(on(p), step * STEP)
            out += a.tick(step, step * STEP, STEP)
        out += a.hear(off(p), (start_step + 4 * i + 3.9) * STEP)
    return out


def tick_on(a: Answerer, first: int, n: int) -> list[tuple[int, mido.Message]]:
    out = []
    for step in range(first, first + n):
        out += [(step, m) for m in a.tick(step, step * STEP, STEP)]
    return out


def test_no_answer_before_the_pause() -> None:
    a = Answerer(FakeMelody(), AnswerSettings())
    assert play_call(a, [60, 62, 64, 65]) == []
    # The last note ends at step 15.9; a beat later is step 19.9: nothing at 16..19.
    assert tick_on(a, 16, 4) == []
    assert not a.answering


def test_the_pause_of_a_beat_starts_the_answer_at_once() -> None:
    a = Answerer(FakeMelody(), AnswerSettings(channel=4))
    play_call(a, [60, 62, 64, 65])
    sent = tick_on(a, 16, 8)
    first = sent[0]
    assert first[0] == 20 and first[1].type == "note_on" and first[1].channel == 4


def test_the_pause_is_at_least_min_pause_at_a_fast_tempo() -> None:
    a = Answerer(FakeMelody(), AnswerSettings(min_pause=1.2))  # a beat is 0.6 s: 1.2 s wins
    play_call(a, [60, 62, 64, 65])
    sent = tick_on(a, 16, 12)
    assert sent and sent[0][0] == 24  # 15.9 + 8 steps of 0.15 s


def test_the_pause_is_a_beat_at_a_slow_tempo() -> None:
    a = Answerer(FakeMelody(), AnswerSettings(min_pause=0.6))
    slow = 0.3  # 50 BPM: a beat is 1.2 s
    a.hear(on(60), 0.0)
    a.hear(off(60), 1.0)
    sent = [(step, m) for step in range(12) for m in a.tick(step, step * slow, slow)]
    assert sent and sent[0][0] == 8  # 1.0 + 1.2 s, not 1.0 + 0.6 s


def test_a_held_note_is_no_pause() -> None:
    a = Answerer(FakeMelody(), AnswerSettings())
    a.hear(on(60), 0.0)
    assert tick_on(a, 0, 40) == []


def test_the_answer_control_answers_without_a_pause() -> None:
    a = Answerer(FakeMelody(), AnswerSettings())
    play_call(a, [60, 62])
    a.request()
    sent = tick_on(a, 8, 1)
    assert [m.type for _, m in sent] == ["note_on"]


def test_the_answer_lasts_as_long_as_the_call_then_ends_with_its_note_off() -> None:
    a = Answerer(FakeMelody(), AnswerSettings())
    play_call(a, [60, 62, 64, 65, 67, 65, 64, 62])  # 8 beats
    sent = tick_on(a, 32, 60)
    ons = [s for s, m in sent if m.type == "note_on"]
    assert ons[0] == 36 and ons[-1] < 36 + 32
    last = sent[-1]
    assert last[1].type == "note_off" and last[0] == 36 + 32
    assert not a.answering


def test_the_answer_is_in_the_calls_register_and_key() -> None:
    a = Answerer(FakeMelody(), AnswerSettings())
    play_call(a, [48, 50, 52, 53, 55, 53, 52, 50])  # C major, an octave below the model's centre
    notes = [m.note for _, m in tick_on(a, 32, 40) if m.type == "note_on"]
    assert notes and all(44 <= n <= 62 for n in notes)
    assert all(n % 12 in (0, 2, 4, 5, 7, 9, 11) for n in notes)


def test_the_key_bias_moves_an_answer_into_the_calls_key() -> None:
    class OutOfKey(FakeMelody):
        def step(self, prev: int, phase: int) -> np.ndarray:
            logits = np.zeros(V.size, np.float32)
            logits[V.onset(73)] = 3.0  # C#: out of C major, but the model's favourite
            logits[V.onset(72)] = 2.0
            return logits

    strong = Answerer(OutOfKey(), AnswerSettings(key_strength=20.0, temperature=0.5))
    play_call(strong, [60, 62, 64, 65, 67])
    notes = [m.note % 12 for _, m in tick_on(strong, 20, 24) if m.type == "note_on"]
    assert notes and 1 not in notes
    free = Answerer(OutOfKey(), AnswerSettings(key_strength=0.0, temperature=0.5))
    play_call(free, [60, 62, 64, 65, 67])
    assert 1 in [m.note % 12 for _, m in tick_on(free, 20, 24) if m.type == "note_on"]


def test_the_motif_bonus_turns_the_answer_into_the_calls_contour() -> None:
    def answer(motif: float) -> list[int]:
        a = Answerer(FakeMelody(), AnswerSettings(key_strength=0.0, motif_strength=motif))
        play_call(a, [72, 74, 76, 72])  # up a tone, up a tone, down a major third
        return [m.note for _, m in tick_on(a, 16, 20) if m.type == "note_on"][:4]

    assert answer(0.0) == [79, 81, 83, 72]  # the fake's scale, from C5 again
    assert answer(100.0) == [79, 81, 83, 79]  # after two tones up, the call's third down


def test_playing_again_silences_the_answer_at_once() -> None:
    a = Answerer(FakeMelody(), AnswerSettings(channel=4))
    play_call(a, [60, 62, 64, 65])
    sent = tick_on(a, 16, 6)  # the answer's first note sounds from step 20
    sounding = [m.note for _, m in sent if m.type == "note_on"][-1]
    stopped = a.hear(on(67), 21.5 * STEP)
    assert [(m.type, m.note, m.channel) for m in stopped] == [("note_off", sounding, 4)]
    assert not a.answering
    assert [m for _, m in tick_on(a, 22, 3)] == []  # nothing more of that answer


def test_no_stuck_notes_whatever_interrupts() -> None:
    """Every note-on the answerer sends gets its note-off, through stop, mode off, a new note or the end."""
    rng = np.random.default_rng(1)
    a = Answerer(FakeMelody(), AnswerSettings())
    sounding: set[int] = set()
    held: list[int] = []
    for step in range(2000):
        t = step * STEP
        r = rng.random()
        out = []
        if r < 0.05:
            p = int(rng.integers(55, 80))
            out += a.hear(on(p), t)
            held.append(p)
        elif r < 0.12 and held:
            a.hear(off(held.pop(0)), t)
        elif r < 0.13:
            out += a.stop(forget=True)
            held.clear()
        elif r < 0.14:
            out += a.set_enabled(not a.enabled)
        out += a.tick(step, t, STEP)
        for m in out:
            if m.type == "note_on":
                assert not sounding, "two answer notes at once"
                sounding.add(m.note)
            else:
                sounding.discard(m.note)
    assert a.answers > 3
    for m in a.stop():
        sounding.discard(m.note)
    assert not sounding


def test_mode_off_ends_the_answer_and_answers_no_more() -> None:
    a = Answerer(FakeMelody(), AnswerSettings())
    play_call(a, [60, 62, 64, 65])
    tick_on(a, 16, 6)
    assert [m.type for m in a.set_enabled(False)] == ["note_off"]
    play_call(a, [60, 62], start_step=40)
    assert tick_on(a, 48, 20) == []


def test_the_model_hears_the_call_as_it_is_played() -> None:
    model = FakeMelody()
    a = Answerer(model, AnswerSettings())
    play_call(a, [60, 62])  # steps 0..7, pause until step 12
    # Each tick fed the step before to three streams, the call an octave apart in each (C5 in the one chosen).
    assert model.resets == 1 and len(model.fed) == 3 * 8
    assert model.fed[:3] == [(V.rest, 0)] * 3
    assert model.fed[3:6] == [(V.onset(60), 1), (V.onset(72), 1), (V.onset(84), 1)]
    assert [prev for prev, _ in model.fed[15:18]] == [V.onset(62), V.onset(74), V.onset(86)]
    sent = tick_on(a, 8, 5)
    assert [(step, m.type) for step, m in sent] == [(12, "note_on")]
    assert len(model.fed) == 3 * 8 + 3 * 4 + 1  # the pause tick keeps the stream it needs and runs one step
    calls = len(model.fed)
    tick_on(a, 13, 4)
    assert len(model.fed) == calls + 4  # then one step a tick, the answer's


def test_call_key_finds_the_key_of_a_scale() -> None:
    pcs = call_key([62, 64, 66, 67, 69, 71, 73, 74], [1.0] * 8)  # D major
    assert [int(i) for i in np.flatnonzero(pcs)] == sorted({2, 4, 6, 7, 9, 11, 1})


@pytest.mark.parametrize("channel,heard", [(0, True), (9, False)])
def test_the_drum_channel_is_no_call(channel: int, heard: bool) -> None:
    a = Answerer(FakeMelody(), AnswerSettings())
    a.hear(mido.Message("note_on", channel=channel, note=60, velocity=90), 0.0)
    a.hear(mido.Message("note_off", channel=channel, note=60), 0.5)
    assert (tick_on(a, 0, 12) != []) is heard


def test_of_a_chord_the_call_is_its_highest_note() -> None:
    model = FakeMelody()
    a = Answerer(model, AnswerSettings())
    a.hear(on(67), 0.0)  # the top first, held the shortest
    a.hear(on(60), 0.0)
    a.hear(on(64), 0.0)
    for note, t in ((67, 0.5), (64, 0.9), (60, 0.9)):
        a.hear(off(note), t)
    tick_on(a, 0, 12)
    assert {prev for prev, _ in model.fed if V.is_onset(prev)} == {V.onset(55), V.onset(67), V.onset(79)}  # G, in each octave stream


def test_a_player_who_never_pauses_keeps_a_bounded_call_and_still_gets_an_answer() -> None:
    a = Answerer(FakeMelody(), AnswerSettings())
    for i in range(5000):  # legato: each key released as the next is struck
        a.hear(on(60 + i % 12), i * 0.1)
        if i:
            a.hear(off(60 + (i - 1) % 12), i * 0.1)
    assert len(a._call) <= 2 * KEPT_NOTES
    a.hear(off(60 + 4999 % 12), 500.0)
    # The grid starts after the call: the model catches up with its last four bars a few steps a tick, then answers.
    assert [m for _, m in tick_on(a, 3340, 20) if m.type == "note_on"]


def test_switching_answer_mode_on_answers_the_next_phrase_not_the_last_one() -> None:
    a = Answerer(FakeMelody(), AnswerSettings(), enabled=False)
    play_call(a, [60, 62, 64, 65])
    assert tick_on(a, 16, 8) == []
    a.set_enabled(True)
    assert tick_on(a, 24, 8) == []
    play_call(a, [67, 65], start_step=32)
    assert tick_on(a, 40, 8)
