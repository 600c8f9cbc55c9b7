"""The live loop drives the band engine unchanged: MIDI clock ticks, the style knob CC, Program Change, Stop."""

from __future__ import annotations

from sideman.bridge.band.engine import BandEngine, BandSettings
from sideman.bridge.config import Config
from sideman.bridge.core.engine import Engine, EngineSettings
from sideman.bridge.live.inbox import Inbox
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.live.ports import FakeOutput
from sideman.bridge.live.status import status_text
from tests.bridge.band.test_band_engine import FakeDecoder
from tests.bridge.live.test_loop import FakeRecorder, feed, play_clock, sounding
from tests.fakes import FakeStepModel


def make_band_bridge():
    decoder = FakeDecoder()
    engines = [BandEngine(decoder, BandSettings(part_channels=(1, 2))),
               Engine(FakeStepModel(), EngineSettings(part_channels=(1, 2, 3)))]
    out = FakeOutput()
    bridge = LiveBridge(Config().replace("bridge", clock="midi"), Inbox(64), out, engines, FakeRecorder(), now=lambda: 0.0)
    bridge.output._flush_seconds = 0
    return bridge, out, decoder


def started_on_c_major(bridge) -> float:
    """Start, a C major chord held, 30 clock pulses; the time after them."""
    feed(bridge, [0xFA], 0.0)
    for note in (60, 64, 67):
        feed(bridge, [0x90, note, 100], 0.0)
    return play_clock(bridge, 30, 0.0)


def test_band_plays_on_the_clock_and_stop_silences():
    bridge, out, decoder = make_band_bridge()
    t = started_on_c_major(bridge)
    assert {ch for ch, _ in sounding(out.sent)} == {1, 2}
    assert decoder.calls == 1  # the ticks only read the patterns decoded at the start
    feed(bridge, [0xB0, bridge.config.controls.style_knob, 127], t)
    assert bridge.engine.knob == 1.0 and decoder.calls == 2
    feed(bridge, [0xFC], t)
    assert sounding(out.sent) == set()


def test_program_change_moves_between_band_and_chorale_without_leaving_notes():
    bridge, out, _ = make_band_bridge()
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 67, 100], 0.0)
    t = play_clock(bridge, 30, 0.0)
    assert sounding(out.sent)
    feed(bridge, [0xC0, 1], t)
    assert bridge.active == 1 and sounding(out.sent) == set()


def test_the_key_freeze_cc_holds_the_band_chord_and_the_status_line_says_so():
    bridge, out, _ = make_band_bridge()
    t = started_on_c_major(bridge)
    assert "| key - chord C |" in status_text(bridge)
    feed(bridge, [0xB0, bridge.config.controls.key_freeze, 127], t)
    for note in (60, 64, 67):
        feed(bridge, [0x80, note, 0], t)
    for note in (62, 65, 69):
        feed(bridge, [0x90, note, 100], t)
    t = play_clock(bridge, 30, t)
    assert "| key - chord C held |" in status_text(bridge)
    feed(bridge, [0xB0, bridge.config.controls.key_freeze, 0], t)
    play_clock(bridge, 30, t)
    assert "| key - chord Dm |" in status_text(bridge)


def test_the_loop_prepares_the_next_bar_after_the_last_beats_tick():
    from tests.bridge.band.test_variation import FakeVariation

    generator = FakeVariation()
    engine = BandEngine(FakeDecoder(), BandSettings(part_channels=(1, 2)), generator)
    bridge = LiveBridge(Config().replace("bridge", clock="midi"), Inbox(64), FakeOutput(), [engine], FakeRecorder(),
                        now=lambda: 0.0)
    bridge.output._flush_seconds = 0
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 60, 100], 0.0)
    t = play_clock(bridge, 12 * 6, 0.0)  # steps 0..11: the bar's first three beats
    assert generator.asked == []
    play_clock(bridge, 1, t)  # step 12, the last beat: the next bar is proposed now, not at the bar line
    assert len(generator.asked) == 1
