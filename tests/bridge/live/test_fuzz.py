"""Bad input for the live loop: arbitrary byte streams fed to LiveBridge.handle/poll_clock with fake times.

Invariants, judged from what the bridge sends and records (never from its internals):
- handle() and poll_clock() never raise;
- a part channel never has two notes sounding at once;
- channel messages go out only on the part channels, or, with thru on, on channels the input used;
  the bridge never sends clock or transport bytes;
- after close(), every note-on it sent has its note-off (explicit ones on the part channels; on the
  thru'd channels an All Notes Off the musician sent also counts, as for the bridge's own books);
- the session journal (a real SessionRecorder) parses with no corrupt line, and the MIDI file it
  becomes on close() loads; a session without a note (played or sent) becomes no file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mido
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sideman.bridge.config import Config
from sideman.bridge.core.engine import Engine, EngineSettings
from sideman.bridge.live.inbox import Inbox, Received
from sideman.bridge.recording.journal import SessionInfo, journal_to_midi, parse_journal
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.midi import is_note_off, is_note_on
from sideman.bridge.live.ports import FakeOutput
from sideman.bridge.recording.recorder import SessionRecorder
from sideman.bridge.engines import DEFAULT_MODEL
from tests.fakes import FakeStepModel

PART_CHANNELS = (1, 2, 3)
INPUT_CHANNELS = (0, 4, 9, 15)  # the player's channels: never a part channel (that would be a config error)
CONTROLS = Config().controls
CONTROL_CCS = (CONTROLS.temperature, CONTROLS.accompaniment, *CONTROLS.mute_parts, CONTROLS.panic, CONTROLS.metronome)
CLICK_CHANNEL = Config().bridge.click_channel - 1  # the metronome's: its CC may switch it on in any case
UNDEFINED = (0xF4, 0xF5, 0xF9, 0xFD)

byte = st.integers(0, 255)
data7 = st.integers(0, 127)
dt = st.one_of(st.just(0.0), st.floats(0.0, 0.05), st.floats(0.0, 3.0))  # same instant, close, or a long gap


def channel_message(kind: int) -> st.SearchStrategy[list[int]]:
    size = 2 if kind in (0xC0, 0xD0) else 3
    return st.builds(lambda ch, data: [kind | ch, *data], st.sampled_from(INPUT_CHANNELS), st.lists(data7, min_size=size - 1, max_size=size - 1))


valid = st.one_of(*(channel_message(k) for k in (0x80, 0x90, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0)))
notes = st.builds(lambda on, ch, note, vel: [(0x90 if on else 0x80) | ch, note, vel],
                  st.booleans(), st.sampled_from((0, 0, 4)), st.integers(55, 85), data7)
control = st.builds(lambda cc, value: [0xB0, cc, value], st.sampled_from(CONTROL_CCS + (64, 120, 123)), data7)
transport = st.one_of(st.sampled_from([[0xF8], [0xFA], [0xFB], [0xFC]]), st.builds(lambda a, b: [0xF2, a, b], data7, data7))
junk = st.one_of(
    st.lists(byte, max_size=5),  # anything: lone status bytes, data without status, truncated messages
    st.sampled_from([[b] for b in UNDEFINED]),
    st.sampled_from([[0x90], [0xF2], [0xF2, 1], [0xF8, 0], [0xFA, 1, 2], [0x40, 0x40], [0x90, 60]]),
    st.builds(lambda s, a, b: [s, a, b], st.integers(0x80, 0xEF), st.integers(128, 255), byte),  # out-of-range data
    st.builds(lambda body, end: [0xF0, *body] + ([0xF7] if end else []), st.lists(data7, max_size=40), st.booleans()),  # SysEx
    st.sampled_from([[0xF1, 5], [0xF3, 2], [0xF6], [0xFE], [0xFF]]),  # system messages a keyboard may send
)
message = st.one_of(valid, notes, notes, control, transport, transport, junk)
# A run of clock pulses at one tempo (20..300 BPM): the tempo jumps between runs.
clock_run = st.builds(lambda n, bpm: ("clock", n, bpm), st.integers(1, 48), st.floats(20.0, 300.0))
# One CC value repeated fast, or controls toggled on every tick.
cc_flood = st.builds(lambda cc, n: ("flood", [0xB0, cc, 0], n), st.sampled_from(CONTROL_CCS + (1, 7)), st.integers(1, 200))
# A phrase: notes played over a running clock (what makes the parts move from note to note).
phrase = st.builds(lambda pitches, bpm: ("phrase", pitches, bpm), st.lists(st.integers(48, 90), min_size=1, max_size=8), st.floats(40.0, 240.0))
event = st.one_of(st.tuples(st.just("msg"), message, dt), st.tuples(st.just("msg"), message, dt), st.tuples(st.just("msg"), junk, dt),
                  clock_run, cc_flood, phrase, phrase, st.tuples(st.just("poll"), dt), st.tuples(st.just("toggle"), st.integers(1, 24)))
setup = st.fixed_dictionaries({
    "clock": st.sampled_from(["auto", "midi", "internal", "follow"]),
    "thru": st.booleans(),
    "click": st.booleans(),  # the metronome and the count-in on
    "input_channel": st.sampled_from([0, 1]),
    "models": st.integers(1, 2),
    "fail_at": st.sets(st.integers(0, 60), max_size=3),
    "bad_at": st.sets(st.integers(0, 60), max_size=3),
})


def make_bridge(directory: Path, clock="auto", thru=False, input_channel=0, models=1, fail_at=(), bad_at=(), real_model=False, click=False):
    config = Config().replace("bridge", clock=clock, thru=thru, input_channel=input_channel, metronome=click, count_in=click)
    settings_ = EngineSettings(part_channels=PART_CHANNELS, input_channel=None if input_channel == 0 else input_channel - 1)
    if real_model:
        from sideman.bridge.model.runtime import OnnxStepModel

        engines = [Engine(OnnxStepModel.load(DEFAULT_MODEL), settings_) for _ in range(models)]
    else:
        engines = [Engine(FakeStepModel(hold_threshold=0.5, fail_at=set(fail_at), bad_at=set(bad_at)), settings_) for _ in range(models)]
    contract = engines[0].contract
    info = SessionInfo(tempo_bpm=100.0, beats_per_bar=4, part_names=tuple(p.name for p in contract.parts), part_channels=PART_CHANNELS)
    recorder = SessionRecorder(directory, info, flush_interval=0.05)
    out = FakeOutput()
    clock_now = [0.0]
    bridge = LiveBridge(config, Inbox(config.bridge.queue_capacity), out, engines, recorder, now=lambda: clock_now[0])
    bridge.output._flush_seconds = 0
    return bridge, out, clock_now


def play(bridge, clock_now, events) -> list[list[int]]:
    """Feed the events; returns every raw message fed."""
    fed: list[list[int]] = []
    t = 0.0

    def feed(data, t):
        fed.append(list(data))
        bridge.handle(Received(list(data), t))
        bridge.poll_clock(t)

    for ev in events:
        if ev[0] == "msg":
            t += ev[2]
            feed(ev[1], t)
        elif ev[0] == "clock":
            for _ in range(ev[1]):
                t += 60.0 / (ev[2] * 24)
                feed([0xF8], t)
        elif ev[0] == "flood":
            for i in range(ev[2]):
                t += 0.0005
                feed([ev[1][0], ev[1][1], i % 128], t)
        elif ev[0] == "phrase":
            pulse = 60.0 / (ev[2] * 24)
            for pitch in ev[1]:
                feed([0x90, pitch, 90], t)
                for _ in range(12):  # an 8th note of clock (and, for the internal clock, of time)
                    t += pulse
                    feed([0xF8], t)
                feed([0x80, pitch, 0], t)
        elif ev[0] == "poll":
            t += ev[1]
            bridge.poll_clock(t)
        elif ev[0] == "toggle":  # every control flipped on every tick, the clock running
            feed([0xFA], t)
            for k in range(ev[1] * 6):
                t += 60.0 / (120 * 24)
                if k % 6 == 0:
                    for cc in CONTROL_CCS:
                        feed([0xB0, cc, 127 if (k // 6 + cc) % 2 else 0], t)
                feed([0xF8], t)
        clock_now[0] = t
    return fed


def check_output(sent: list[mido.Message], fed: list[list[int]], thru: bool) -> None:
    fed_channels = {d[0] & 0x0F for d in fed if d and 0x80 <= d[0] < 0xF0}
    allowed = set(PART_CHANNELS) | (fed_channels if thru else set()) | {CLICK_CHANNEL}
    held: dict[tuple[int, int], int] = {}
    for m in sent:
        assert m.type not in ("clock", "start", "stop", "continue", "songpos"), m
        if not hasattr(m, "channel"):
            assert thru, f"system message {m} sent with thru off"
            continue
        assert m.channel in allowed, f"{m} on channel {m.channel}; allowed {sorted(allowed)}"
        key = (m.channel, getattr(m, "note", None))
        if is_note_on(m):
            held[key] = held.get(key, 0) + 1
            if m.channel in PART_CHANNELS:
                on_channel = sum(n for (ch, _), n in held.items() if ch == m.channel)
                assert on_channel == 1, f"two notes at once on part channel {m.channel}: {held}"
        elif is_note_off(m):
            if held.get(key, 0) > 1:
                held[key] -= 1
            else:
                held.pop(key, None)
        elif m.type == "control_change" and m.control == 123 and m.channel not in PART_CHANNELS:
            held = {k: n for k, n in held.items() if k[0] != m.channel}  # the musician's own All Notes Off, thru'd
    assert not held, f"notes left sounding after close(): {sorted(held)}"


def check_journal(bridge: LiveBridge, directory: Path) -> bool:
    """Check the journal; True if it holds a note (so it becomes a MIDI file)."""
    recorder = bridge.recorder
    assert recorder.flush()
    text = recorder.journal_path.read_text(encoding="utf-8")
    journal = parse_journal(text, "fuzz")
    assert journal.corrupt_lines == () and not journal.truncated
    copy = directory / "copy.journal"
    copy.write_text(text, encoding="utf-8")
    converted = journal_to_midi(copy, directory / "copy.mid")
    if converted is not None:
        mido.MidiFile(converted)
    return converted is not None


def run_case(events, clock="auto", thru=False, input_channel=0, models=1, fail_at=(), bad_at=(), real_model=False,
             click=False) -> LiveBridge:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        bridge, out, clock_now = make_bridge(directory / "sessions", clock, thru, input_channel, models, fail_at, bad_at, real_model, click)
        fed = play(bridge, clock_now, events)
        has_notes = check_journal(bridge, directory)
        saved = bridge.close()
        check_output(out.sent, fed, thru)
        assert has_notes or not any(is_note_on(m) for m in out.sent)
        if has_notes:
            assert len(mido.MidiFile(saved).tracks) >= 2 + len(PART_CHANNELS)  # conductor, input, one per part
        else:
            assert saved is None and not any((directory / "sessions").iterdir())
        return bridge


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=st.lists(event, max_size=60), config=setup)
@example(events=[("msg", [0xF8], 0.01)] * 30 + [("msg", [0x90, 72, 100], 0.0)] + [("msg", [0xF8], 0.02)] * 30, config={
    "clock": "midi", "thru": False, "input_channel": 0, "models": 1, "fail_at": set(), "bad_at": set()})  # clock without Start
@example(events=[("msg", [0xFC], 0.0), ("msg", [0xFB], 0.1), ("msg", [0xFC], 0.1), ("clock", 24, 120.0)], config={
    "clock": "auto", "thru": True, "input_channel": 0, "models": 1, "fail_at": set(), "bad_at": set()})  # Stop without Start
def test_any_stream_keeps_the_invariants(events, config):
    run_case(events, **config)


@pytest.mark.parametrize("name, events", [
    ("undefined and truncated status bytes", [("msg", [b], 0.01) for b in UNDEFINED] + [("msg", [0x90], 0.0), ("msg", [64, 100], 0.0),
                                                                                          ("msg", [0x90, 60], 0.0), ("msg", [0xE0, 5], 0.0)]),
    ("SysEx, closed and not", [("msg", [0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], 0.0), ("msg", [0xF0, 1, 2, 3], 0.0), ("msg", [0xF7], 0.0)]),
    ("out-of-range data", [("msg", [0x90, 200, 100], 0.0), ("msg", [0xB0, 7, 255], 0.0), ("msg", [0xF2, 255, 255], 0.0)]),
    ("note-off without note-on, same note struck twice", [("msg", [0xFA], 0.0), ("msg", [0x80, 72, 0], 0.0), ("msg", [0x90, 72, 90], 0.0),
                                                         ("msg", [0x90, 72, 90], 0.01), ("clock", 30, 120.0), ("msg", [0x80, 72, 0], 0.0),
                                                         ("clock", 12, 120.0)]),
    ("a flood of one CC", [("msg", [0xFA], 0.0), ("msg", [0x90, 70, 90], 0.0), ("flood", [0xB0, 1, 0], 3000), ("clock", 24, 120.0)]),
    ("SPP mid-bar while playing", [("msg", [0xFA], 0.0), ("msg", [0x90, 70, 90], 0.0), ("clock", 20, 120.0), ("msg", [0xF2, 7, 0], 0.0),
                                  ("clock", 20, 120.0), ("msg", [0xFC], 0.0), ("msg", [0xF2, 3, 1], 0.0), ("msg", [0xFB], 0.0), ("clock", 20, 120.0)]),
    ("tempo jumping between 20 and 300 BPM", [("msg", [0xFA], 0.0), ("msg", [0x90, 70, 90], 0.0)]
     + [("clock", 7, bpm) for bpm in (20.0, 300.0, 20.0, 300.0, 45.0, 299.0)]),
    ("controls toggled on every tick", [("msg", [0x90, 70, 90], 0.0), ("toggle", 24), ("msg", [0x80, 70, 0], 0.0)]),
])
@pytest.mark.parametrize("thru", [False, True])
def test_named_bad_inputs(name, events, thru):
    bridge = run_case(events, clock="midi", thru=thru)
    assert bridge.stats.received > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=st.lists(event, max_size=40), thru=st.booleans(), clock=st.sampled_from(["auto", "midi"]))
def test_any_stream_with_the_real_model(events, thru, clock):
    run_case([("msg", [0xFA], 0.0), ("msg", [0x90, 72, 90], 0.0), ("clock", 12, 120.0)] + events, clock=clock, thru=thru, real_model=True)
