"""Offline rendering: the same engine in simulated time, MIDI in and out, bad files as one-line errors."""

from __future__ import annotations

import io
from fractions import Fraction
import sys
from collections import deque

import mido
import numpy as np
import pytest

from sideman.bridge.offline import commands
from sideman.bridge.offline import render as offline
from sideman.bridge.cli import main
from sideman.bridge.core.clock import InternalClock
from sideman.bridge.core.engine import Engine, EngineSettings, handled_before_tick
from sideman.bridge.errors import MidiFileError
from sideman.bridge.midi import is_note_on
from sideman.bridge.offline.render import DEMO_MELODY, beats_in_bar, read_melody, render
from tests.fakes import FakeStepModel, fake_voicing

V = FakeStepModel().vocab
SETTINGS = EngineSettings(part_channels=(1, 2, 3))


def melody_file(notes, tpb=480, bpm=120.0, ts=(4, 4), channel=0, extra_tracks=()):
    """notes: (start_tick, end_tick, pitch). Returns a type-1 MidiFile: conductor + melody (+ extra tracks)."""
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)),
                                mido.MetaMessage("time_signature", numerator=ts[0], denominator=ts[1])])
    events = sorted([(s, 1, p) for s, _, p in notes] + [(e, 0, p) for _, e, p in notes])
    track, now = mido.MidiTrack([mido.MetaMessage("track_name", name="tune")]), 0
    for tick, is_on, pitch in events:
        track.append(mido.Message("note_on" if is_on else "note_off", note=pitch, velocity=90 if is_on else 0,
                                  channel=channel, time=tick - now))
        now = tick
    return mido.MidiFile(type=1, ticks_per_beat=tpb, tracks=[conductor, *extra_tracks, track])


def to_bytes(mid: mido.MidiFile) -> bytes:
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def test_hand_made_melody_gives_the_expected_step_tokens():
    # C5 for a beat, D5 for an eighth, an eighth rest, E5 for two beats; 120 BPM, 4/4.
    mid = melody_file([(0, 480, 72), (480, 720, 74), (960, 1920, 76)])
    result = render(mid, FakeStepModel(), SETTINGS)
    assert result.n_steps == 16 and result.reanswers == 0 and result.faults == 0
    on = V.onset
    c, d, e = (tuple(on(p) for p in fake_voicing(x)) for x in (72, 74, 76))
    hold, rest = (V.hold,) * 3, (V.rest,) * 3
    expected = [(on(72), V.rest, c), (V.hold, on(72), hold), (V.hold, V.hold, hold), (V.hold, V.hold, hold),
                (on(74), V.hold, d), (V.hold, on(74), hold),
                (V.unknown, V.hold, hold),  # the note ended: unknown, but the lead sounded at t-1 -> fake holds
                (V.unknown, V.rest, rest),  # nothing came: rest
                (on(76), V.rest, e)] + [(V.hold, on(76), hold)] + [(V.hold, V.hold, hold)] * 6
    assert [(s.lead, s.prev_lead, s.tokens) for s in result.steps] == expected
    part_notes = sorted((n.voice, n.pitch, round(n.start, 6), round(n.end, 6)) for n in result.notes if n.voice != "lead")
    step = 0.125
    want = []
    for name, k in (("alto", 0), ("tenor", 1), ("bass", 2)):
        want += [(name, fake_voicing(72)[k], 0.0, 4 * step), (name, fake_voicing(74)[k], 4 * step, 7 * step),
                 (name, fake_voicing(76)[k], 8 * step, 16 * step)]
    assert part_notes == sorted(want)


def test_output_is_a_type1_file_with_the_input_tracks_and_one_track_per_part():
    mid = melody_file([(0, 480, 72), (480, 960, 74)], ts=(3, 4), bpm=90)
    out = render(mid, FakeStepModel(), SETTINGS).midi
    assert out.type == 1 and out.ticks_per_beat == 480
    names = [t.name for t in out.tracks]
    assert names == ["", "tune", "alto", "tenor", "bass"]
    for track, ch in zip(out.tracks[2:], SETTINGS.part_channels):
        assert {m.channel for m in track if not m.is_meta} == {ch}
    # The input's tracks (conductor with tempo and meter, melody) are there, unchanged.
    assert [list(t) for t in out.tracks[:2]] == [list(t) for t in mid.tracks]
    # Re-read through mido: one note at a time per part channel, all ended.
    reread = mido.MidiFile(file=io.BytesIO(to_bytes(out)))
    for track in reread.tracks[2:]:
        sounding = None
        for m in track:
            if m.type == "note_on" and m.velocity:
                assert sounding is None
                sounding = m.note
            elif m.type in ("note_on", "note_off"):
                assert sounding == m.note
                sounding = None
        assert sounding is None


def jittered_melody(seed=3, sigma=0.02, n=40, tpb=960, bpm=100.0):
    """Quarter and eighth notes with Gaussian onset jitter, in a high-resolution file."""
    rng = np.random.default_rng(seed)
    ticks_per_s = tpb * bpm / 60.0
    notes, beat = [], 0.5
    for i in range(n):
        length = 1.0 if i % 3 else 0.5
        start = max(0, round((beat * 60 / bpm + rng.normal(0, sigma)) * ticks_per_s))
        end = round(((beat + length * 0.9) * 60 / bpm) * ticks_per_s)
        notes.append((start, max(end, start + 1), int(rng.integers(60, 82))))
        beat += length
    return melody_file(notes, tpb=tpb, bpm=bpm)


def test_same_seed_gives_a_byte_identical_file_and_another_seed_does_not():
    mid = jittered_melody()
    a = render(mid, FakeStepModel(hold_threshold=0.3), EngineSettings(part_channels=(1, 2, 3), seed=7))
    b = render(mid, FakeStepModel(hold_threshold=0.3), EngineSettings(part_channels=(1, 2, 3), seed=7))
    c = render(mid, FakeStepModel(hold_threshold=0.3), EngineSettings(part_channels=(1, 2, 3), seed=8))
    assert to_bytes(a.midi) == to_bytes(b.midi)
    assert to_bytes(a.midi) != to_bytes(c.midi)
    assert a.reanswers > 0  # the jitter put some notes in the late window


class FakeClock:
    """Stands in for the monotonic clock the daemon reads when it wakes; the engine never sees it."""

    def __init__(self) -> None:
        self.now = 0.0


def drive_live(engine: Engine, arrivals, bpm: float, n_steps: int, beats_per_bar: int, clock: FakeClock):
    """The live daemon's loop with sideman.bridge.core.clock.InternalClock and a fake clock: the driver stamps each
    message as it arrives; the engine thread wakes for a message or for the next absolute tick
    deadline, whichever comes first, handles messages stamped up to a tick before it, and passes
    the stamps and scheduled tick times to the engine, never the time it happened to wake."""
    grid = InternalClock(bpm)
    grid.start(0.0)
    inbox = deque(arrivals)  # (stamp, msg), in arrival order
    sent = []
    while grid.next_step < n_steps:
        deadline = grid.next_tick_time()
        if inbox and handled_before_tick(inbox[0][0], deadline):
            stamp, msg = inbox.popleft()
            clock.now = stamp + 0.0004  # the thread wakes a little after the driver's stamp
            sent += [(stamp, m) for m in engine.handle(msg, stamp)]
        else:
            clock.now = deadline + 0.0007  # wake-up jitter: the tick still carries its scheduled time
            tick = grid.due(clock.now)
            sent += [(tick.t, m) for m in engine.tick(tick.step, tick.t, tick.step_seconds, beats_per_bar)]
    for stamp, msg in inbox:
        sent += [(stamp, m) for m in engine.handle(msg, stamp)]
    sent += [(max(clock.now, grid.next_tick_time()), m) for m in engine.stop()]
    return sent


@pytest.mark.parametrize("windows", [(0.0, 0.0), (0.02, 0.04), (0.03, 0.03)])
def test_live_loop_and_offline_render_send_the_same_events(windows):
    mid = jittered_melody(seed=11, sigma=0.03)
    settings = EngineSettings(part_channels=(1, 2, 3), seed=5, early_window=windows[0], late_window=windows[1])
    result = render(mid, FakeStepModel(hold_threshold=0.5), settings)
    melody = read_melody(mid)
    spt = melody.tempo / 1e6 / melody.ticks_per_beat
    arrivals = [(tick * spt, msg) for tick, msg in melody.events]
    engine = Engine(FakeStepModel(hold_threshold=0.5), settings)
    live = drive_live(engine, arrivals, melody.bpm, result.n_steps, result.beats_per_bar, FakeClock())
    assert (result.reanswers > 0) == (windows[1] > 0)
    assert len(live) == len(result.events) > 100
    for (t_live, m_live), (t_off, m_off) in zip(live, result.events):
        assert m_live == m_off and t_live == pytest.approx(t_off, abs=1e-9)


def test_tempo_override_keeps_the_melody_on_the_grid():
    mid = melody_file([(0, 480, 72), (480, 960, 74)], bpm=120)
    result = render(mid, FakeStepModel(), SETTINGS, tempo_bpm=60)
    assert result.step_seconds == pytest.approx(0.25)
    assert [s.lead for s in result.steps[:5]] == [V.onset(72), V.hold, V.hold, V.hold, V.onset(74)]
    assert [m.tempo for t in result.midi.tracks for m in t if m.type == "set_tempo"] == [mido.bpm2tempo(60)]


@pytest.mark.parametrize("ts,beats", [((4, 4), 4), ((3, 4), 3), ((6, 8), 3), ((5, 8), 3), ((7, 8), 4),
                                      ((12, 8), 6), ((2, 2), 4), ((13, 4), 8), ((1, 16), 1)])
def test_odd_time_signatures(ts, beats):
    assert beats_in_bar(*ts, max_beats=8) == beats
    result = render(melody_file([(0, 480, 72)], ts=ts), FakeStepModel(), SETTINGS)
    assert result.beats_per_bar == beats and result.n_steps % (beats * 4) == 0


def test_overlapping_notes_on_one_channel_do_not_crash():
    # Same pitch struck twice before its note-off, plus a lower note overlapping a higher one.
    mid = melody_file([(0, 960, 72), (240, 480, 72), (480, 1400, 64), (600, 700, 79)])
    result = render(mid, FakeStepModel(), SETTINGS)
    leads = [s.lead for s in result.steps]
    # 120 ticks a step: 72 at step 0, struck again at 2; the first note-off of 72 ends both; 64 at 4;
    # 79 at 5 (highest); releasing 79 at tick 700 reveals the held 64 (early window of step 6);
    # 72's second note-off is unmatched; 64 ends at tick 1400 (between steps 11 and 12).
    o, h, u = V.onset, V.hold, V.unknown
    assert leads[:14] == [o(72), h, o(72), h, o(64), o(79), o(64), h, h, h, h, h, u, u]


def test_track_and_channel_selection():
    other = mido.MidiTrack([mido.Message("note_on", note=50, velocity=80, channel=5, time=0),
                            mido.Message("note_off", note=50, velocity=0, channel=5, time=480)])
    mid = melody_file([(0, 480, 72), (480, 960, 74)], extra_tracks=[other])
    assert read_melody(mid).name == "tune"  # the track with the most notes
    assert [m.note for _, m in read_melody(mid, track=1).events] == [50, 50]
    assert read_melody(mid, channel=5).events[0][1].note == 50
    with pytest.raises(MidiFileError, match="no track 7"):
        read_melody(mid, track=7)
    with pytest.raises(MidiFileError, match="no notes in track 2 on channel 10"):
        read_melody(mid, track=2, channel=9)


def test_bad_files_are_one_line_errors(tmp_path):
    text = tmp_path / "notes.mid"
    text.write_text("this is not a MIDI file\n")
    with pytest.raises(MidiFileError, match="not a readable MIDI file"):
        read_melody(text)
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    with pytest.raises(MidiFileError, match="not a readable MIDI file"):
        read_melody(empty)
    with pytest.raises(MidiFileError, match="no such file"):
        read_melody(tmp_path / "missing.mid")
    with pytest.raises(MidiFileError, match="no such file"):
        read_melody(tmp_path)
    silent = tmp_path / "silent.mid"
    melody_file([]).save(silent)
    with pytest.raises(MidiFileError, match="no notes"):
        read_melody(silent)
    huge = tmp_path / "huge.mid"
    with open(huge, "wb") as f:
        f.truncate(offline.MAX_FILE_BYTES + 1)
    with pytest.raises(MidiFileError, match="too big"):
        read_melody(huge)
    crowded = melody_file([(i, i + 1, 72) for i in range(0, 2 * offline.MAX_EVENTS, 2)])
    with pytest.raises(MidiFileError, match="too many"):
        read_melody(crowded)
    endless = melody_file([(0, 10, 72), (10**9, 10**9 + 10, 72)])
    with pytest.raises(MidiFileError, match="lasts"):
        render(endless, FakeStepModel(), SETTINGS)
    with pytest.raises(MidiFileError, match="BPM"):
        render(melody_file([(0, 10, 72)], bpm=5), FakeStepModel(), SETTINGS)


def test_demo_melody_asset_is_what_the_script_writes(tmp_path):
    from sideman.bridge.offline.demo_melody import build_demo_melody, melody_notes

    assert DEMO_MELODY.read_bytes() == to_bytes(build_demo_melody())
    mel = read_melody(DEMO_MELODY)
    assert len([m for _, m in mel.events if m.type == "note_on" and m.velocity]) == len(melody_notes()) == 32
    assert mel.numerator == 4 and round(mel.bpm) == 84


# -- the commands, with the model loader replaced by the fake --------------------------------------

@pytest.fixture
def fake_loader(monkeypatch):
    monkeypatch.setattr(commands, "load_model", lambda path: FakeStepModel(hold_threshold=0.5))


def test_sideman_accompany_writes_the_file_and_says_where(tmp_path, fake_loader, capsys):
    src = tmp_path / "tune.mid"
    jittered_melody().save(src)
    out = tmp_path / "jam.mid"
    assert main(["accompany", str(src), "-o", str(out), "--seed", "3", "--tempo", "90", "--channel", "1"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "90 BPM" in printed
    jam = mido.MidiFile(out)
    assert [t.name for t in jam.tracks] == ["", "tune", "alto", "tenor", "bass"]
    assert main(["accompany", str(src), "-o", str(tmp_path / "again.mid"), "--seed", "3", "--tempo", "90"]) == 0
    assert (tmp_path / "again.mid").read_bytes() == out.read_bytes()


def test_accompany_prompt_writes_only_the_parts_it_names(tmp_path, fake_loader, capsys):
    src, out = tmp_path / "tune.mid", tmp_path / "jam.mid"
    jittered_melody().save(src)
    assert main(["accompany", str(src), "-o", str(out), "--prompt", "slow waltz in D minor, just bass, wild",
                 "--temperature", "0.5"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:4] == ["prompt: key D minor, parts bass (alto, tenor muted)",
                           "prompt: tempo 72 not used: accompany keeps the file's tempo map (--tempo sets one)",
                           "prompt: meter 3/4 not used: accompany keeps the file's time signature",
                           "prompt: temperature 1.5 not used: the flag given wins"]
    jam = mido.MidiFile(out)
    assert [t.name for t in jam.tracks] == ["", "tune", "bass"]
    bass = [m for m in jam.tracks[2] if m.type == "note_on" and m.velocity > 0]
    assert bass and {m.channel for m in bass} == {3}
    assert not [m for t in jam.tracks[:2] for m in t if m.type == "note_on" and m.channel in (1, 2)]


def test_accompany_prompt_temperature_reaches_the_model(tmp_path, monkeypatch, capsys):
    models = []
    monkeypatch.setattr(commands, "load_model", lambda path: models.append(FakeStepModel()) or models[-1])
    src = tmp_path / "tune.mid"
    jittered_melody().save(src)
    assert main(["accompany", str(src), "-o", str(tmp_path / "jam.mid"), "--prompt", "play it safe"]) == 0
    assert "prompt: temperature 0.4" in capsys.readouterr().out
    assert {call["temperature"] for call in models[0].calls} == {0.4}


def test_accompany_prompt_leaving_no_part_is_one_line(tmp_path, fake_loader, capsys):
    src = tmp_path / "tune.mid"
    jittered_melody().save(src)
    assert main(["accompany", str(src), "-o", str(tmp_path / "jam.mid"), "--prompt", "no alto, no tenor, no bass"]) == 2
    err = capsys.readouterr().err
    assert err == "sideman: error: the prompt mutes every part: nothing would play (the model's parts: alto, tenor, bass)\n"
    assert not (tmp_path / "jam.mid").exists()


def test_sideman_accompany_bad_input_is_one_line_and_exit_2(tmp_path, fake_loader, capsys):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00")
    assert main(["accompany", str(bad), "-o", str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable MIDI file" in err and "Traceback" not in err
    assert main(["accompany", str(bad), "-o", str(tmp_path / "x.mid"), "--channel", "17"]) == 2
    assert "1..16" in capsys.readouterr().err


def test_sideman_demo_writes_midi_and_png(tmp_path, fake_loader, capsys):
    assert main(["demo", "--out-dir", str(tmp_path), "--no-wav"]) == 0  # the WAV: tests/bridge/offline/test_audio.py
    printed = capsys.readouterr().out
    for name in ("sideman-demo.mid", "sideman-demo.png"):
        assert (tmp_path / name).is_file() and str(tmp_path / name) in printed
    assert not (tmp_path / "sideman-demo.wav").exists() and ".wav" not in printed
    assert (tmp_path / "sideman-demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_long_files_show_progress_on_stderr(capsys):
    mid = melody_file([(i * 480, i * 480 + 400, 60 + i % 20) for i in range(1100)])  # 1100 beats = 4400 steps
    result = render(mid, FakeStepModel(), SETTINGS, progress=True)
    err = capsys.readouterr().err
    assert result.n_steps == 4400
    assert "accompanying: 100% (4400/4400 steps)" in err and err.count("\raccompanying") >= 8


def test_timing_study_plumbing_on_a_synthetic_chorale():
    from sideman.models.data import Piece, notes_to_tokens
    from benchmarks.timing_study import format_table, study

    T = 64
    soprano = notes_to_tokens([(s, s + 4, p) for s, p in zip(range(0, T, 4), [72, 74, 76, 77, 79, 77, 76, 74] * 2)], T)
    alto = notes_to_tokens([(s, s + 8, 64) for s in range(0, T, 8)], T)
    tenor = notes_to_tokens([(s, s + 8, 60) for s in range(0, T, 8)], T)
    bass = notes_to_tokens([(s, s + 16, 48) for s in range(0, T, 16)], T)
    position = np.stack([np.arange(T) % 4, (np.arange(T) // 4) % 4], axis=1)
    piece = Piece("synthetic", np.stack([soprano, alto, tenor, bass], axis=1), position)
    rows = study([piece, piece], FakeStepModel(), bpm=100, sigmas=(0.0, 30.0), windows=((0, 0), (50, 50)), progress=False)
    bach, perfect0, perfect50, human0, human50 = rows
    assert bach.sigma_ms is None and bach.known is None
    assert perfect0.known == perfect50.known == 1.0 and perfect0.reanswers_per_100 == 0.0
    assert human0.known < 0.2 < 0.8 < human50.known  # 30 ms jitter: no window misses almost every onset
    assert human50.reanswers_per_100 > 0.0 and human0.reanswers_per_100 == 0.0
    table = format_table(rows)
    assert table.count("\n") == len(rows) + 1 and "Bach's parts" in table


# -- the files people have: tempo maps, other tracks, their channels ------------------------------

def absolute(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    tick, out = 0, []
    for msg in track:
        tick += msg.time
        out.append((tick, msg))
    return out


def test_tempo_changes_keep_the_melodys_timing_and_the_grid_follows_them():
    # 60 BPM for two bars, then 180 BPM: the melody, a quarter note a beat, must come back exactly as it went in.
    mid = melody_file([(i * 480, i * 480 + 400, 72 + i % 5) for i in range(16)], bpm=60)
    mid.tracks[0].append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(180), time=8 * 480))
    result = render(mid, FakeStepModel(), SETTINGS)
    out = result.midi
    tempos = lambda m: [(tick, msg.tempo) for t in m.tracks for tick, msg in absolute(t) if msg.type == "set_tempo"]
    assert tempos(out) == tempos(mid) == [(0, 1_000_000), (3840, 333_333)]
    assert list(out.tracks[1]) == list(mid.tracks[1])
    assert out.length == pytest.approx(8 + 8 / 3)  # the input's 10.7 s (a single tempo made it 16 s)
    # Every part note-on sits on a 16th of the file (120 ticks) at the time the tempo map gives that tick.
    ons = [(tick, m) for t in out.tracks[2:] for tick, m in absolute(t) if m.type == "note_on" and m.velocity]
    assert ons and all(tick % 120 == 0 for tick, _ in ons)
    engine_times = sorted({t for t, m in result.events if m.type == "note_on" and m.velocity})
    assert engine_times == pytest.approx(sorted({result.tempo_map.seconds(tick) for tick, _ in ons}))
    assert [s.lead for s in result.steps[32:37]] == [V.onset(75), V.hold, V.hold, V.hold, V.onset(76)]  # in step at 180 BPM


def test_the_other_tracks_are_kept_and_the_parts_move_off_their_channels():
    strings = [mido.MidiTrack([mido.Message("note_on", channel=ch, note=55 + ch, velocity=60, time=0),
                               mido.Message("note_off", channel=ch, note=55 + ch, velocity=0, time=1920)]) for ch in (1, 2, 3)]
    mid = melody_file([(0, 480, 72), (480, 960, 74)], extra_tracks=strings)
    result = render(mid, FakeStepModel(), SETTINGS)
    assert result.part_channels == (4, 5, 6)  # channels 5, 6, 7: the input plays on 2, 3 and 4
    out = result.midi
    assert [list(t) for t in out.tracks[:5]] == [list(t) for t in mid.tracks]
    for track, ch in zip(out.tracks[5:], (4, 5, 6)):
        assert {m.channel for m in track if not m.is_meta} == {ch}


def test_accompany_says_which_line_is_the_melody_and_where_the_parts_went(tmp_path, fake_loader, capsys):
    from tests.bridge.offline.test_midi_input import two_hand_piano

    src = tmp_path / "piano.mid"
    piano = two_hand_piano()
    piano.tracks[2] = mido.MidiTrack(m.copy(channel=1) if not m.is_meta else m for m in piano.tracks[2])  # left hand on 2
    piano.save(src)
    assert main(["accompany", str(src), "-o", str(tmp_path / "jam.mid")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("melody: track 1 'Right hand', channel 1 (the highest single-note line of 2;")
    assert lines[0].endswith("every other track and channel is kept as it was")
    assert lines[1] == "parts on channels 3, 4, 5: the input already uses channel 2"
    jam = mido.MidiFile(tmp_path / "jam.mid")
    assert [t.name for t in jam.tracks] == ["", "Right hand", "Left hand", "alto", "tenor", "bass"]


def test_too_few_free_channels_is_one_line(tmp_path, fake_loader, capsys):
    band = [mido.MidiTrack([mido.Message("program_change", channel=ch, program=0)]) for ch in range(2, 16)]
    src = tmp_path / "band.mid"
    melody_file([(0, 480, 72)], extra_tracks=band).save(src)
    assert main(["accompany", str(src), "-o", str(tmp_path / "jam.mid")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the input uses MIDI channels 1, 3, 4" in err and "3 parts need channels of their own" in err
    assert not (tmp_path / "jam.mid").exists()


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink", "png"])
def test_accompany_never_overwrites_its_input(tmp_path, fake_loader, capsys, spelling):
    src = tmp_path / "tune.mid"
    jittered_melody().save(src)
    before = src.read_bytes()
    args = ["accompany", str(src), "-o", str(tmp_path / "jam.mid")]
    if spelling == "same":
        args[3] = str(src)
    elif spelling == "dotted":
        args[3] = str(tmp_path / "sub" / ".." / "tune.mid")
    elif spelling == "symlink":
        (tmp_path / "link.mid").symlink_to(src)
        args[3] = str(tmp_path / "link.mid")
    else:
        args += ["--png", str(src)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sideman: error: ") and "is the melody file itself" in err
    assert src.read_bytes() == before and not (tmp_path / "jam.mid").exists()


def test_demo_without_matplotlib_writes_the_midi_and_says_how_to_get_the_picture(tmp_path, fake_loader, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # a plain `pip install sideman`
    assert main(["demo", "--out-dir", str(tmp_path), "--no-wav"]) == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "sideman-demo.mid").is_file() and not (tmp_path / "sideman-demo.png").exists()
    assert out.splitlines()[-1] == "sideman-demo.png not drawn: the piano roll needs matplotlib: pip install matplotlib"
    assert err == ""


def test_accompany_png_without_matplotlib_writes_the_midi_then_one_line(tmp_path, fake_loader, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    src = tmp_path / "tune.mid"
    jittered_melody().save(src)
    assert main(["accompany", str(src), "-o", str(tmp_path / "jam.mid"), "--png", str(tmp_path / "roll.png")]) == 2
    err = capsys.readouterr().err
    assert err == f"sideman: error: {tmp_path / 'roll.png'} not drawn: the piano roll needs matplotlib: pip install matplotlib\n"
    assert mido.MidiFile(tmp_path / "jam.mid").tracks


def ramped_performance(bars=24, start_bpm=100.0, end_bpm=110.0, jitter=0.0, seed=0, tpb=480):
    """A melody of 8ths and quarters whose tempo map rises beat by beat (the true grid), played with
    N(0, jitter) onset noise written against that map; returns (file, seconds of step k)."""
    from sideman.bridge.offline.midi_input import TempoMap

    beats = bars * 4
    tempos = [mido.bpm2tempo(start_bpm + (end_bpm - start_bpm) * j / (beats - 1)) for j in range(beats + 1)]
    tmap = TempoMap(tpb, [(j * tpb, tempo) for j, tempo in enumerate(tempos)])
    rng = np.random.default_rng(seed)
    notes = []
    for j in range(beats):
        for half in ((0,) if j % 4 == 3 else (0, 1)):  # a 4/4 bar: six 8ths, a quarter
            start = j * tpb + half * tpb // 2
            t = tmap.seconds(start) + (rng.normal(0, jitter) if jitter else 0.0)
            notes.append((max(0, round(tmap.ticks(t))), 60 + len(notes) % 7))
    notes.sort()
    timed = [(s, e - 10, p) for (s, p), (e, _) in zip(notes, notes[1:] + [(notes[-1][0] + tpb, 0)])]
    mid = melody_file(timed, tpb=tpb)
    conductor = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4)])
    for j, tempo in enumerate(tempos):
        conductor.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0 if j == 0 else tpb))
    mid.tracks[0] = conductor
    return mid, lambda k: tmap.seconds(Fraction(k * tpb, 4))


@pytest.mark.parametrize("jitter", [0.0, 0.02])
def test_accompany_follow_on_a_ramp_keeps_the_part_onsets_on_the_true_grid(jitter):
    from sideman.bridge.core.follow import FollowClock

    mid, step_time = ramped_performance(jitter=jitter, seed=5)
    followed = render(mid, FakeStepModel(), SETTINGS, clock=FollowClock(100.0, 4))
    grid = np.array([step_time(k) for k in range(24 * 16 + 1)])
    onsets = np.array([t for t, m in followed.events if is_note_on(m)])
    assert len(onsets) > 100
    near = np.abs(onsets[:, None] - grid[None, :]).min(axis=1)
    assert np.mean(near <= 0.030) >= 0.9
    # A fixed clock at the first tempo, started on the first note as the internal clock is, falls behind.
    fixed = render(mid, FakeStepModel(), SETTINGS, clock=InternalClock(100.0, 4))
    fixed_onsets = np.array([t for t, m in fixed.events if is_note_on(m)])
    assert np.mean(np.abs(fixed_onsets[:, None] - grid[None, :]).min(axis=1) <= 0.030) < 0.7
    assert followed.faults == 0 and len(followed.beats) > 80


def test_sideman_accompany_follow_says_it_followed(tmp_path, fake_loader, capsys):
    src, out = tmp_path / "performance.mid", tmp_path / "jam.mid"
    ramped_performance()[0].save(src)
    assert main(["accompany", str(src), "-o", str(out), "--follow"]) == 0
    printed = capsys.readouterr().out
    assert "following the melody" in printed and str(out) in printed
    jam = mido.MidiFile(out)
    assert [t.name for t in jam.tracks][-3:] == ["alto", "tenor", "bass"]
    assert sum(1 for m in jam.tracks[-1] if is_note_on(m)) > 20
