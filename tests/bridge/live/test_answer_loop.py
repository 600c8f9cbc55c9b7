"""Answer mode in the live loop, on fake ports and fake models: the mode control, the answer's channel, and
no answer note left sounding by the player, panic, the clock's stop or close."""

from __future__ import annotations

from sideman.bridge.config import Config
from sideman.bridge.core.answer import Answerer, AnswerSettings
from sideman.bridge.core.engine import Engine, EngineSettings
from sideman.bridge.live.inbox import Inbox
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.live.ports import FakeOutput
from sideman.bridge.midi import is_note_on
from tests.bridge.live.test_loop import PART_CHANNELS, FakeRecorder, at, run_until, sounding
from tests.fakes import FakeMelody, FakeStepModel

ANSWER = 4  # 0-based channel
BEAT = 0.6  # 100 BPM


def make_bridge(mode: str = "answer") -> tuple[LiveBridge, FakeOutput]:
    config = Config().replace("bridge", clock="internal").replace("engine", mode=mode)
    engine = Engine(FakeStepModel(), EngineSettings(part_channels=PART_CHANNELS))
    answerer = Answerer(FakeMelody(), AnswerSettings(channel=ANSWER), enabled=mode == "answer")
    out = FakeOutput()
    bridge = LiveBridge(config, Inbox(64), out, [engine], FakeRecorder(), now=lambda: 0.0, answerer=answerer)
    bridge.output._flush_seconds = 0
    return bridge, out


def call(bridge: LiveBridge, t0: float, notes=(60, 62, 64, 65)) -> float:
    """One note a beat from t0; returns the last note's end."""
    for i, note in enumerate(notes):
        at(bridge, [0x90, note, 90], t0 + i * BEAT)
        at(bridge, [0x80, note, 0], t0 + (i + 0.9) * BEAT)
    return t0 + (len(notes) - 0.1) * BEAT


def answer_ons(out: FakeOutput) -> list:
    return [m for m in out.sent if is_note_on(m) and m.channel == ANSWER]


def test_a_pause_is_answered_on_its_channel_and_the_parts_stay_silent() -> None:
    bridge, out = make_bridge()
    end = call(bridge, 1.0)
    run_until(bridge, end + BEAT - 0.05)
    assert answer_ons(out) == []
    run_until(bridge, end + BEAT + 0.16)
    assert len(answer_ons(out)) == 1
    assert not [m for m in out.sent if m.channel in PART_CHANNELS and is_note_on(m)]


def test_the_answer_outlasts_the_idle_stop_then_the_clock_stops_with_nothing_sounding() -> None:
    bridge, out = make_bridge()
    end = call(bridge, 1.0, notes=(60, 62, 64, 65, 67, 65, 64, 62))  # two bars: answered by two bars
    run_until(bridge, end + 2 * 4 * BEAT + 0.01)  # the idle stop's two bars have passed
    assert bridge.internal.running and bridge.answerer.answering
    run_until(bridge, end + 3 * 4 * BEAT)
    assert not bridge.internal.running
    assert len(answer_ons(out)) == 8 and sounding(out.sent) == set()


def test_playing_again_silences_the_answer_at_once() -> None:
    bridge, out = make_bridge()
    end = call(bridge, 1.0)
    run_until(bridge, end + BEAT + 0.2)
    assert sounding(out.sent) == {(ANSWER, answer_ons(out)[0].note)}
    at(bridge, [0x90, 67, 90], end + BEAT + 0.25)
    assert sounding(out.sent) == set()


def test_the_mode_control_switches_between_answering_and_accompanying() -> None:
    bridge, out = make_bridge(mode="accompany")
    cc = bridge.config.controls.answer_mode
    end = call(bridge, 1.0)
    run_until(bridge, end + 2 * BEAT)
    assert answer_ons(out) == [] and [m for m in out.sent if m.channel in PART_CHANNELS and is_note_on(m)]
    at(bridge, [0xB0, cc, 127], end + 2 * BEAT)
    assert sounding(out.sent) == set()  # the parts stop at once
    end = call(bridge, end + 3 * BEAT)
    run_until(bridge, end + BEAT + 0.2)
    assert answer_ons(out)
    at(bridge, [0xB0, cc, 0], end + BEAT + 0.3)
    assert not [k for k in sounding(out.sent) if k[0] == ANSWER]  # back to accompanying: the answer ends


def test_the_answer_now_control_answers_without_waiting_for_the_pause() -> None:
    bridge, out = make_bridge()
    at(bridge, [0x90, 60, 90], 1.0)
    at(bridge, [0x80, 60, 0], 1.2)
    at(bridge, [0xB0, bridge.config.controls.answer_now, 127], 1.25)
    run_until(bridge, 1.31)
    assert len(answer_ons(out)) == 1


def test_panic_and_close_leave_no_answer_note_sounding() -> None:
    for finish in ("panic", "close"):
        bridge, out = make_bridge()
        end = call(bridge, 1.0)
        run_until(bridge, end + BEAT + 0.2)
        assert sounding(out.sent)
        if finish == "panic":
            at(bridge, [0xB0, bridge.config.controls.panic, 127], end + BEAT + 0.25)
        else:
            bridge.close()
        assert sounding(out.sent) == set()
