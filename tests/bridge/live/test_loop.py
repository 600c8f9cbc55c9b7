"""The live loop on fake ports and a fake model, driven message by message with hand-made times."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sideman.bridge.config import Config
from sideman.bridge.core.engine import Engine, EngineSettings
from sideman.bridge.live.inbox import Inbox, Received
from sideman.bridge.live.controls import temperature_from_cc
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.live.status import status_text
from sideman.bridge.midi import is_note_off, is_note_on
from sideman.bridge.live.ports import FakeOutput
from tests.fakes import FakeStepModel, fake_voicing

PULSE = 60.0 / (120 * 24)
PART_CHANNELS = (1, 2, 3)


class FakeRecorder:
    journal_path = Path("session.journal")

    def __init__(self):
        self.inputs, self.outputs, self.marks, self.closed = [], [], [], False

    def record_input(self, data, t):
        self.inputs.append((list(data), t))

    def record_output(self, msg, t):
        self.outputs.append((msg, t))

    def mark(self, kind, t, **fields):
        self.marks.append(kind)

    def close(self):
        self.closed = True
        return "session.mid"


def make_bridge(clock="auto", thru=False, models=1, **model_kwargs):
    config = Config().replace("bridge", clock=clock, thru=thru)
    engines = [Engine(FakeStepModel(**model_kwargs), EngineSettings(part_channels=PART_CHANNELS)) for _ in range(models)]
    out = FakeOutput()
    bridge = LiveBridge(config, Inbox(64), out, engines, FakeRecorder(), now=lambda: 0.0)
    bridge.output._flush_seconds = 0
    return bridge, out


def feed(bridge, data, t):
    bridge.handle(Received(list(data), t))


def sounding(messages):
    """Replay an output stream; (channel, note) pairs still on at the end."""
    on: dict[tuple[int, int], int] = {}
    for m in messages:
        if is_note_on(m):
            on[(m.channel, m.note)] = on.get((m.channel, m.note), 0) + 1
        elif is_note_off(m):
            on[(m.channel, m.note)] = max(0, on.get((m.channel, m.note), 0) - 1)
        elif m.type == "control_change" and m.control == 123:
            on = {k: v for k, v in on.items() if k[0] != m.channel}
    return {k for k, v in on.items() if v}


def play_clock(bridge, pulses, t0):
    for i in range(pulses):
        feed(bridge, [0xF8], t0 + i * PULSE)
    return t0 + pulses * PULSE


def test_midi_clock_drives_the_parts_on_their_channels_at_the_tick():
    bridge, out = make_bridge(clock="midi")
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 72, 100], 0.0)  # the melody note right on the downbeat
    play_clock(bridge, 1, 0.0)  # first pulse after Start = step 0
    ons = [m for m in out.sent if is_note_on(m)]
    assert sorted((m.channel, m.note) for m in ons) == sorted(zip(PART_CHANNELS, fake_voicing(72)))
    rec_times = {t for m, t in bridge.recorder.outputs}
    assert rec_times == {0.0}  # recorded at the tick time
    assert bridge.stats.step == 0 and bridge.clock_source == "midi"


def test_daw_stop_silences_every_part_at_once_and_start_resets():
    bridge, out = make_bridge(clock="midi")
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 67, 90], 0.0)
    t = play_clock(bridge, 30, 0.0)
    assert sounding(out.sent)
    feed(bridge, [0xFC], t)
    assert sounding(out.sent) == set()
    assert bridge.recorder.marks[-1] == "stop"
    model = bridge.engine.model
    resets = model.resets
    feed(bridge, [0xFA], t + 1)
    assert model.resets == resets + 1


def test_internal_clock_starts_on_the_first_note_and_stops_when_the_player_does():
    bridge, out = make_bridge(clock="internal")
    feed(bridge, [0x90, 72, 100], 5.0)
    assert bridge.internal.running and bridge.clock_source == "internal"
    bridge.poll_clock(5.0)
    assert {(m.channel, m.note) for m in out.sent if is_note_on(m)} == set(zip(PART_CHANNELS, fake_voicing(72)))
    feed(bridge, [0x80, 72, 0], 5.4)
    bridge.poll_clock(6.0)
    assert bridge.internal.running  # one second of silence: still playing
    bridge.poll_clock(5.4 + 2 * 4 * 0.6 + 0.01)  # two bars at 100 BPM after the last note
    assert not bridge.internal.running
    assert sounding(out.sent) == set()


def test_midi_clock_takes_over_from_the_own_clock_in_auto_mode():
    bridge, out = make_bridge(clock="auto")
    for t in (-1.0, -0.5, 0.0, 0.5):  # a count-in: the follower (auto's own clock) starts with 1.0 as the first beat
        at(bridge, [0x90, 60, 90], t)
        at(bridge, [0x80, 60, 0], t + 0.1)
    at(bridge, [0x90, 72, 100], 1.0)
    assert sounding(out.sent) and bridge.internal.name == "follow"
    feed(bridge, [0xFA], 1.05)
    assert bridge.clock_source == "midi" and not bridge.internal.running
    assert sounding(out.sent) == set()
    feed(bridge, [0x90, 74, 100], 1.06)
    play_clock(bridge, 7, 1.06)
    assert sounding(out.sent)
    bridge.poll_clock(1.06 + 3.0)  # the DAW vanished mid-song: no clock for 3 s
    assert sounding(out.sent) == set() and bridge.clock_source == "internal"


def test_internal_mode_ignores_the_daws_clock():
    bridge, _ = make_bridge(clock="internal")
    feed(bridge, [0xFA], 0.0)
    play_clock(bridge, 12, 0.0)
    assert bridge.stats.ticks == 0 and bridge.clock_source == "internal"


def test_controls_panic_mute_accompaniment_and_temperature():
    bridge, out = make_bridge(clock="midi")
    c = bridge.config.controls
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 72, 100], 0.0)
    t = play_clock(bridge, 7, 0.0)
    assert len(sounding(out.sent)) == 3
    feed(bridge, [0xB0, c.mute_parts[2], 127], t)  # mute the bass
    assert (PART_CHANNELS[2], fake_voicing(72)[2]) not in sounding(out.sent) and len(sounding(out.sent)) == 2
    feed(bridge, [0xB0, c.accompaniment, 0], t)
    assert sounding(out.sent) == set()
    feed(bridge, [0xB0, c.accompaniment, 127], t)
    feed(bridge, [0xB0, c.temperature, 127], t)
    assert bridge.engine.temperature == pytest.approx(2.0)
    feed(bridge, [0x90, 74, 100], t)
    t = play_clock(bridge, 12, t)
    assert sounding(out.sent)
    feed(bridge, [0xB0, c.panic, 127], t)
    assert sounding(out.sent) == set()
    assert any(m.type == "control_change" and m.control == 123 for m in out.sent)
    # control CCs are consumed, not passed on
    assert not any(m.type == "control_change" and m.control in (c.accompaniment, c.temperature) for m in out.sent)


def test_program_change_switches_model_without_leaving_notes():
    bridge, out = make_bridge(clock="midi", models=2)
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 72, 100], 0.0)
    t = play_clock(bridge, 7, 0.0)
    assert sounding(out.sent)
    feed(bridge, [0xC0, 1], t)
    assert bridge.active == 1 and sounding(out.sent) == set()
    play_clock(bridge, 12, t)
    assert bridge.engines[1].model.calls  # the new model plays from the next tick


def test_a_program_change_beyond_the_loaded_models_changes_nothing_and_says_so_once(caplog):
    bridge, out = make_bridge(clock="midi", models=2)
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 72, 100], 0.0)
    t = play_clock(bridge, 7, 0.0)
    sent = len(out.sent)
    with caplog.at_level("WARNING", logger="sideman"):
        for _ in range(3):
            feed(bridge, [0xC0, 3], t)  # Program Change 4 of 2 models (once it played model 2: 3 % 2)
    assert bridge.active == 0 and len(out.sent) == sent
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring Program Change 4: only 2 models are loaded (Program Change 1..2 picks one)"]


def test_the_cause_hook_hears_each_message_before_it_is_handled_and_each_tick_before_it_is_answered():
    causes = []
    config = Config().replace("bridge", clock="midi")
    engine = Engine(FakeStepModel(), EngineSettings(part_channels=PART_CHANNELS))
    bridge = LiveBridge(config, Inbox(64), FakeOutput(), [engine], now=lambda: 0.0,
                        on_cause=lambda event: causes.append((type(event).__name__, event.t, bridge.stats.received, bridge.stats.ticks)))
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0xF8], 0.1)
    assert causes == [("Received", 0.0, 0, 0), ("Received", 0.1, 1, 0), ("Tick", 0.1, 2, 0)]


def test_close_closes_the_input_port_it_was_given_then_handles_what_came_in_then_silences():
    events = []

    class Input:
        name = "in"

        def close(self):
            events.append(("input closed", bridge.stats.received))

    inbox = Inbox(64)
    out = FakeOutput()
    bridge = LiveBridge(Config().replace("bridge", thru=True), inbox, out, [], now=lambda: 0.0, input_port=Input())
    inbox.put([0x90, 60, 100], 0.0)
    bridge.close()
    assert events == [("input closed", 0)] and bridge.stats.received == 1  # queued before the close: handled
    assert [m.type for m in out.sent] == ["note_on", "note_off", "control_change"] and out.closed  # then silenced


def test_thru_passes_the_players_notes_and_close_silences_everything():
    bridge, out = make_bridge(clock="midi", thru=True)
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 72, 100], 0.0)
    play_clock(bridge, 7, 0.0)
    assert (0, 72) in sounding(out.sent)
    assert bridge.close() == "session.mid"
    assert sounding(out.sent) == set() and out.closed and bridge.recorder.closed


def test_malformed_bytes_are_counted_and_ignored():
    bridge, out = make_bridge(clock="midi")
    for junk in ([0xF2, 1], [0xF8, 0], [0x90, 200, 1], [0x95], [0xF4], [0x12, 0x13], []):
        feed(bridge, junk, 0.0)
    assert bridge.stats.malformed == 7 and out.sent == []


def test_temperature_cc_curve():
    assert temperature_from_cc(0) == pytest.approx(0.1) and temperature_from_cc(127) == pytest.approx(2.0)
    assert temperature_from_cc(64) == pytest.approx((0.1 * 2.0) ** 0.5, rel=0.02)  # geometric middle


def test_internal_ticks_due_before_a_message_fire_before_it_is_handled():
    bridge, _ = make_bridge(clock="internal")
    feed(bridge, [0x90, 72, 100], 0.0)  # starts the grid: 16ths of 0.15 s at 100 BPM
    bridge.poll_clock(0.0)
    assert bridge.stats.ticks == 1
    bridge._fire_internal_ticks_before(0.31)
    assert bridge.stats.ticks == 3 and bridge.stats.step == 2  # ticks at 0.15 and 0.30, not 0.45
    bridge._fire_internal_ticks_before(0.45)  # a message stamped exactly at a tick goes before it
    assert bridge.stats.ticks == 3


def _real_bridge(clock, engine_class=Engine):
    from sideman.bridge.model.runtime import OnnxStepModel
    from sideman.bridge.engines import DEFAULT_MODEL

    config = Config().replace("bridge", clock=clock, thru=False)
    engine = engine_class(OnnxStepModel.load(DEFAULT_MODEL), EngineSettings(part_channels=PART_CHANNELS))
    out = FakeOutput()
    bridge = LiveBridge(config, Inbox(64), out, [engine], FakeRecorder(), now=lambda: 0.0)
    bridge.output._flush_seconds = 0
    return bridge, out


def test_steps_answered_ahead_of_the_midi_clock_tick_play_the_same_notes():
    """The bridge prepares each step half a pulse before its tick (when idle); the music is unchanged."""
    from sideman.bridge.core.ahead import AheadEngine
    from sideman.bridge.live.status import status_text

    ahead, out_ahead = _real_bridge("midi", AheadEngine)
    plain, out_plain = _real_bridge("midi")
    melody = {0: 67, 24: 69, 30: 71, 48: 72, 71: 74}  # pulse -> a new melody note (71: after the step was prepared)
    for bridge in (ahead, plain):
        feed(bridge, [0xFA], 0.0)
    for pulse in range(96):
        t = 0.01 + pulse * PULSE
        for bridge in (ahead, plain):
            if pulse in melody:
                feed(bridge, [0x90, melody[pulse], 90], t - 0.3 * PULSE)
            feed(bridge, [0xF8], t)
        ahead._ahead.prepare(ahead, t + 0.2 * PULSE)  # too soon: half a pulse before the tick at the earliest
        ahead._ahead.prepare(ahead, t + 0.6 * PULSE)  # the engine thread woke up for it
    assert out_ahead.sent == out_plain.sent and out_plain.sent
    assert ahead.engine.prepared_count >= 10
    share = round(100 * ahead.engine.prepared_count / ahead.engine.step_count)
    assert f"({share:3.0f}% ahead)" in status_text(ahead) and "ahead" not in status_text(plain)


def test_internal_clock_steps_are_answered_before_their_tick_and_the_loop_wakes_for_them():
    from sideman.bridge.core.ahead import AheadEngine

    bridge, _ = _real_bridge("internal", AheadEngine)
    feed(bridge, [0x90, 67, 90], 1.0)  # starts the internal grid on this note
    bridge.poll_clock(1.0)
    step_seconds = bridge.internal.step_seconds
    for k in range(1, 6):
        tick = 1.0 + k * step_seconds
        assert bridge._ahead.wake_in(bridge, tick - 0.05) == pytest.approx(0.03)
        bridge._ahead.prepare(bridge, tick - 0.05)  # too early: nothing yet
        bridge._ahead.prepare(bridge, tick - 0.01)
        assert bridge._ahead.wake_in(bridge, tick - 0.01) is None  # done for this step
        bridge.poll_clock(tick)
    assert bridge.engine.prepared_count == 5


def test_the_status_line_shows_jack_xruns_once_there_is_one():
    from sideman.bridge.live.status import status_text

    bridge, _ = make_bridge()
    assert "xruns" not in status_text(bridge) and "xruns" not in status_text(bridge, 0)
    assert "| JACK xruns 3 |" in status_text(bridge, 3) + " |"


def _melody_over_clock(bridge, other: list[list[int]]) -> None:
    """Start, then a melody on channel 1 over 96 pulses; `other` messages are spread between the pulses."""
    feed(bridge, [0xFA], 0.0)
    t = 0.0
    for pulse in range(96):
        if pulse % 12 == 0:
            feed(bridge, [0x90, 60 + pulse // 12, 90], t)
        for data in other[pulse::96]:
            feed(bridge, data, t + PULSE / 2)
        t += PULSE
        feed(bridge, [0xF8], t)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.builds(lambda status, ch, a, b: [status | ch, a, b][:2 if status in (0xC0, 0xD0) else 3],
                          st.sampled_from([0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0]), st.integers(4, 15),
                          st.integers(0, 127), st.integers(0, 127)), max_size=300))
def test_other_channels_go_thru_byte_exact_and_change_nothing_in_the_parts(other):
    """What bypasses the engine (sideman.bridge.live.loop's fast path) must not matter to it: the parts play exactly
    what they play without those messages, which go thru as they came and are silenced on close."""
    def run(extra):
        config = Config().replace("bridge", clock="midi", thru=True, input_channel=1)
        engine = Engine(FakeStepModel(), EngineSettings(part_channels=PART_CHANNELS, input_channel=0))
        out = FakeOutput()
        bridge = LiveBridge(config, Inbox(64), out, [engine], FakeRecorder(), now=lambda: 0.0)
        bridge.output._flush_seconds = 0
        _melody_over_clock(bridge, extra)
        sent_while_playing = len(out.sent)
        bridge.close()
        return bridge, out.sent[:sent_while_playing], out.sent
    _, alone, _ = run([])
    bridge, played, everything = run(other)
    parts = [m.bytes() for m in played if m.channel in PART_CHANNELS]
    assert parts == [m.bytes() for m in alone if m.channel in PART_CHANNELS]
    thru_other = [m.bytes() for m in played if m.channel >= 4]
    assert thru_other == [list(d) for d in other]  # every one, in order, byte for byte
    assert [b for b, _ in bridge.recorder.outputs if isinstance(b, bytes)] == [bytes(d) for d in other]
    assert not sounding(everything)


SILENCERS = {"panic": lambda c: [0xB0, c.panic, 127], "all notes off": lambda c: [0xB0, 123, 0],
             "all sound off": lambda c: [0xB0, 120, 0]}


@pytest.mark.parametrize("silencer", SILENCERS)
@pytest.mark.parametrize("clock", ["midi", "internal"])
def test_after_a_lost_note_off_panic_or_all_notes_off_forgets_the_lead_and_the_parts_wait_for_the_player(clock, silencer):
    from sideman.bridge.live.status import status_text

    bridge, out = _real_bridge(clock)
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0xB0, 64, 127], 0.0)  # the pedal down
    feed(bridge, [0x90, 72, 100], 0.0)  # its note-off is lost on the way
    t = play_clock(bridge, 48, 0.0) if clock == "midi" else 1.0
    bridge.poll_clock(t)
    assert sounding(out.sent)
    feed(bridge, SILENCERS[silencer](bridge.config.controls), t)
    assert sounding(out.sent) == set() and bridge.input_notes.held == []
    assert "lead    -" in status_text(bridge) and not bridge.internal.running
    sent = len(out.sent)
    later = play_clock(bridge, 96, t) if clock == "midi" else t + 4.0  # two bars
    bridge.poll_clock(later)
    assert [m for m in out.sent[sent:] if is_note_on(m)] == []  # the parts wait for the player
    feed(bridge, [0x90, 74, 100], later)  # the player plays again: the parts too
    bridge.poll_clock(play_clock(bridge, 12, later) if clock == "midi" else later + 0.5)
    assert any(is_note_on(m) and m.channel in PART_CHANNELS for m in out.sent[sent:])


def test_close_writes_the_recording_before_the_output_port_closes():
    """Closing a port may wait on the MIDI server (one that runs no cycle): the session is saved first."""
    bridge, out = make_bridge(clock="midi", thru=True)
    feed(bridge, [0x90, 72, 100], 0.0)
    port_closed_when_recording_closed = []
    close_recording = bridge.recorder.close
    bridge.recorder.close = lambda: port_closed_when_recording_closed.append(out.closed) or close_recording()
    assert bridge.close() == "session.mid"
    assert port_closed_when_recording_closed == [False] and out.closed
    assert sounding(out.sent) == set()
    assert [m for m, _ in bridge.recorder.outputs if m.type == "note_off"]  # the silencing is in the recording


@pytest.mark.parametrize("input_channel", [0, 10])
def test_drums_on_channel_10_are_the_tune_only_when_asked_for(input_channel):
    config = Config().replace("bridge", clock="internal", input_channel=input_channel)
    settings = EngineSettings(part_channels=PART_CHANNELS, input_channel=input_channel - 1 if input_channel else None)
    out = FakeOutput()
    bridge = LiveBridge(config, Inbox(64), out, [Engine(FakeStepModel(), settings)], FakeRecorder(), now=lambda: 0.0)
    for i in range(8):  # kick, snare, a crash high above: only drums
        feed(bridge, [0x99, (36, 38, 49, 81)[i % 4], 110], i * 0.25)
        feed(bridge, [0x89, (36, 38, 49, 81)[i % 4], 0], i * 0.25 + 0.1)
        bridge.poll_clock(i * 0.25 + 0.2)
    parts = [m for m in out.sent if is_note_on(m) and m.channel in PART_CHANNELS]
    assert bool(parts) == (input_channel == 10) and bridge.internal.running == (input_channel == 10)


def test_an_exception_in_the_engine_thread_stops_the_bridge_and_says_why():
    bridge, _ = make_bridge(clock="midi")

    def bug(msg, t):
        raise RuntimeError("a bug\nwith a second line")

    bridge.engine.handle = bug
    bridge.inbox.put([0x90, 72, 100], 0.0)
    bridge._run_guarded(0, "a test")  # returns: the loop ended
    assert bridge.wait(0) and bridge.failed == "RuntimeError: a bug"


def test_the_status_line_says_it_waits_for_start_while_the_daw_sends_only_clock():
    from sideman.bridge.live.status import status_text

    bridge, _ = make_bridge(clock="auto")
    assert "waiting for Start" not in status_text(bridge)  # its own clock: a note starts it
    play_clock(bridge, 48, 0.0)
    assert bridge.clock_source == "midi" and "■ waiting for Start (or Continue)" in status_text(bridge)
    feed(bridge, [0xFB], 1.0)  # Continue
    assert "waiting for Start" not in status_text(bridge)


def test_thru_never_passes_system_reset_or_tune_request():
    bridge, out = make_bridge(clock="midi", thru=True)
    for data in ([0xFF], [0xF6], [0xF3, 2], [0x90, 60, 100]):
        feed(bridge, data, 0.0)
    assert [m.type for m in out.sent] == ["song_select", "note_on"]
    assert bridge.stats.malformed == 0 and [d for d, _ in bridge.recorder.inputs][:2] == [[0xFF], [0xF6]]  # recorded all the same


def test_closing_after_thousands_of_strikes_sends_one_note_off_per_sounding_note_and_counts_it_all():
    bridge, out = make_bridge(clock="midi", thru=True)
    for i in range(5000):  # 2,048 keys on 16 channels, most struck more than once
        feed(bridge, [0x90 | (i // 128) % 16, i % 128, 100], 0.0)
    out.dropped_in_stalls = 7  # what the output's StallGuard dropped (a JACK server that ran no cycle)
    bridge.close()
    closing = out.sent[5000:]
    assert sorted((m.channel, m.note) for m in closing if m.type == "note_off") == [(c, n) for c in range(16) for n in range(128)]
    assert [m.channel for m in closing if m.type == "control_change"] == list(range(16))
    assert bridge.stats.sent == 5000 + 2048 + 16 and bridge.dropped == 7


def make_own_clock_bridge(**bridge_keys):
    config = Config().replace("bridge", **bridge_keys)
    engine = Engine(FakeStepModel(), EngineSettings(part_channels=PART_CHANNELS))
    out = FakeOutput()
    bridge = LiveBridge(config, Inbox(64), out, [engine], FakeRecorder(), now=lambda: 0.0)
    bridge.output._flush_seconds = 0
    return bridge, out


def run_until(bridge, now):
    bridge._fire_internal_ticks_before(now)
    bridge.poll_clock(now)


def at(bridge, data, t):
    """As the engine thread does: the own clock's ticks due before t, the message, then what is due at t."""
    bridge._fire_internal_ticks_before(t)
    feed(bridge, data, t)
    bridge.poll_clock(t)


def clicks(out, channel=9):
    return [m for m in out.sent if m.channel == channel and m.type in ("note_on", "note_off")]


@pytest.mark.parametrize("tap", [[0x90, 60, 90], [0xB0, 64, 127]])
def test_follow_a_four_tap_count_in_starts_the_parts_one_beat_after_the_fourth_tap(tap):
    bridge, out = make_own_clock_bridge(clock="follow")
    release = [0x80, 60, 0] if tap[0] == 0x90 else [0xB0, 64, 0]
    for t in (1.0, 1.5, 2.0, 2.5):  # 120 BPM
        at(bridge, tap, t)
        at(bridge, release, t + 0.1)
    assert bridge.internal.running and bridge.internal.bpm == pytest.approx(120)
    assert not [m for m in out.sent if m.channel in PART_CHANNELS]  # the count-in is not accompanied
    at(bridge, [0x90, 72, 100], 3.0)  # the tune's first note, on the first beat
    ons = [m for m in out.sent if is_note_on(m) and m.channel in PART_CHANNELS]
    assert sorted((m.channel, m.note) for m in ons) == sorted(zip(PART_CHANNELS, fake_voicing(72)))
    assert bridge.stats.step == 0 and "follow clock 120.0 BPM" in status_text(bridge)


def test_follow_hears_the_tempo_from_the_first_notes_and_stops_when_the_player_does():
    bridge, out = make_own_clock_bridge(clock="follow")
    t = 1.0
    for i in range(16):  # 110 BPM: two 8ths a beat, a quarter every third beat
        beat = 60.0 / 110
        for offset in ((0.0,) if i % 3 == 2 else (0.0, 0.5)):
            at(bridge, [0x90, 60 + i % 5, 90], t + offset * beat)
            at(bridge, [0x80, 60 + i % 5, 0], t + offset * beat + 0.1)
        t += beat
    assert bridge.internal.running and bridge.internal.bpm == pytest.approx(110, rel=0.02)
    assert [m for m in out.sent if is_note_on(m) and m.channel in PART_CHANNELS]
    run_until(bridge, t + 2 * 4 * 60.0 / 110 + 0.5)  # two bars of silence
    assert not bridge.internal.running and sounding(out.sent) == set()


def test_a_daws_clock_still_wins_over_the_follower():
    bridge, _ = make_own_clock_bridge(clock="follow")
    for t in (1.0, 1.5, 2.0, 2.5):
        feed(bridge, [0x90, 60, 90], t)
        feed(bridge, [0x80, 60, 0], t + 0.1)
    assert bridge.internal.running
    feed(bridge, [0xFA], 2.6)
    assert bridge.clock_source == "midi" and not bridge.internal.running


def test_internal_count_in_clicks_one_bar_before_the_parts_and_the_metronome_cc_owes_its_note_offs():
    bridge, out = make_own_clock_bridge(clock="internal", count_in=True)  # 100 BPM: a beat is 0.6 s
    at(bridge, [0x90, 72, 100], 1.0)
    run_until(bridge, 1.0 + 4 * 0.6 - 0.01)
    assert [m.velocity for m in clicks(out) if is_note_on(m)] == [110, 75, 75, 75]
    assert not [m for m in out.sent if m.channel in PART_CHANNELS] and "count-in" in status_text(bridge)
    run_until(bridge, 1.0 + 4 * 0.6)
    assert [m for m in out.sent if is_note_on(m) and m.channel in PART_CHANNELS]  # the parts start on bar 1
    assert len([m for m in clicks(out) if is_note_on(m)]) == 4  # the metronome is off: the count-in only
    at(bridge, [0xB0, bridge.config.controls.metronome, 127], 3.5)
    run_until(bridge, 4.0)
    assert len([m for m in clicks(out) if is_note_on(m)]) == 5  # on: the next beat clicks
    feed(bridge, [0xB0, bridge.config.controls.metronome, 127], 4.0)
    bridge.close()
    assert sounding(out.sent) == set() and clicks(out)[-1].type == "note_off"


def test_the_metronome_stops_with_the_clock_and_never_clicks_on_a_daws_clock():
    bridge, out = make_own_clock_bridge(clock="auto", metronome=True)
    for t in (0.0, 0.5, 1.0, 1.5):  # a count-in: the click answers from its last tap on
        at(bridge, [0xB0, 64, 127], t)
        at(bridge, [0xB0, 64, 0], t + 0.1)
    at(bridge, [0x90, 72, 100], 2.0)
    assert [m.type for m in clicks(out)] == ["note_on", "note_off", "note_on"]
    feed(bridge, [0xFA], 2.05)  # a DAW takes over: the click ends with the parts
    assert [m.type for m in clicks(out)] == ["note_on", "note_off", "note_on", "note_off"]
    play_clock(bridge, 48, 2.06)
    assert len(clicks(out)) == 4
