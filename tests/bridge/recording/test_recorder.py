"""Session recording: journal while playing, MIDI at the end, nothing lost to a crash or a failing disk."""

from __future__ import annotations

import builtins
import errno
import io
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import mido
import pytest

from sideman.bridge.recording import recorder as recorder_module
from sideman.bridge.cli import main
from sideman.bridge.errors import RecordingError
from sideman.bridge.recording.journal import MAGIC, SessionInfo, journal_to_midi, parse_journal
from sideman.bridge.recording.recorder import SessionRecorder, recover
from tests.paths import REPO

INFO = SessionInfo(tempo_bpm=120.0, beats_per_bar=3, part_names=("alto", "tenor", "bass"), part_channels=(1, 2, 3),
                   model="test.onnx", started_at="2025-01-02T03:04:05")
T0 = 1000.0  # perf_counter seconds of the session's first event


def on(channel: int, note: int, velocity: int = 80) -> mido.Message:
    return mido.Message("note_on", channel=channel, note=note, velocity=velocity)


def off(channel: int, note: int) -> mido.Message:
    return mido.Message("note_off", channel=channel, note=note, velocity=0)


def timeline(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    """(absolute tick, message) for the channel messages of a track."""
    tick, out = 0, []
    for msg in track:
        tick += msg.time
        if not msg.is_meta:
            out.append((tick, msg.copy(time=0)))
    return out


def track_names(midi: mido.MidiFile) -> list[str]:
    return [next(m.name for m in t if m.type == "track_name") for t in midi.tracks]


def unended_notes(track: mido.MidiTrack) -> list[tuple[int, int]]:
    held: dict[tuple[int, int], int] = {}
    for _, msg in timeline(track):
        key = (getattr(msg, "channel", -1), getattr(msg, "note", -1))
        if msg.type == "note_on" and msg.velocity > 0:
            held[key] = held.get(key, 0) + 1
        elif msg.type in ("note_on", "note_off"):
            assert held.get(key, 0) > 0, f"note-off without note-on: {msg}"
            held[key] -= 1
    return [k for k, n in held.items() if n]


def test_round_trip_tracks_channels_and_timing(tmp_path):
    rec = SessionRecorder(tmp_path / "sessions", INFO)
    rec.mark("start", T0, step=0)
    rec.record_input([0x90, 60, 100], T0 + 0.0)
    rec.record_input([0xF8], T0 + 0.01)  # MIDI clock: journal only
    rec.record_output(on(1, 64), T0 + 0.5)  # alto
    rec.record_output(on(3, 40), T0 + 0.5)  # bass
    rec.record_output(on(0, 60), T0 + 0.0)  # thru on channel 1: no part's channel -> "other"
    rec.record_input(bytes([0x80, 60, 0]), T0 + 1.0)
    rec.record_output(off(0, 60), T0 + 1.0)
    rec.mark("tempo", T0 + 1.0, bpm=60.0)
    rec.record_output(off(1, 64), T0 + 1.5)
    rec.record_output(off(3, 40), T0 + 2.0)
    rec.record_input([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], T0 + 2.0)  # SysEx: journal only
    rec.mark("stop", T0 + 2.0, step=16)
    path = rec.close()

    assert path == tmp_path / "sessions" / "session-20250102-030405.mid"
    assert not rec.journal_path.exists(), "a clean session leaves the MIDI file only"
    midi = mido.MidiFile(path)
    assert midi.type == 1 and midi.ticks_per_beat == 480
    assert track_names(midi) == ["sideman session 2025-01-02T03:04:05", "input", "alto", "tenor", "bass", "other"]
    meta = [m for m in midi.tracks[0] if m.is_meta]
    assert [(m.numerator, m.denominator) for m in meta if m.type == "time_signature"] == [(3, 4)]
    # 1 s at 120 bpm = 960 ticks; then 60 bpm: 0.5 s more = 240 ticks, 1 s more = 480 ticks.
    tempos, tick = [], 0
    for m in midi.tracks[0]:
        tick += m.time
        if m.type == "set_tempo":
            tempos.append((tick, m.tempo))
    assert tempos == [(0, 500000), (960, 1000000)]
    assert [m.text for m in meta if m.type == "marker"] == ["start step=0", "stop step=16"]
    inp, alto, tenor, bass, other = (timeline(t) for t in midi.tracks[1:])
    assert inp == [(0, mido.Message("note_on", note=60, velocity=100)), (960, mido.Message("note_off", note=60, velocity=0))]
    assert alto == [(480, on(1, 64)), (1200, off(1, 64))]
    assert tenor == []
    assert bass == [(480, on(3, 40)), (1440, off(3, 40))]
    assert other == [(0, on(0, 60)), (960, off(0, 60))]
    assert rec.summary is not None and rec.summary.skipped == 2 and rec.summary.closed_notes == 0
    # Every track ends at the same tick: the last event.
    assert {sum(m.time for m in t) for t in midi.tracks} == {1440}


def test_every_kind_of_channel_message_reaches_the_file_unchanged(tmp_path):
    played = [mido.Message("note_on", channel=3, note=5, velocity=7), mido.Message("note_off", channel=3, note=5, velocity=7), mido.Message("polytouch", channel=15, note=127, value=1),
              mido.Message("control_change", channel=0, control=64, value=127), mido.Message("program_change", channel=9, program=33),
              mido.Message("aftertouch", channel=2, value=99), mido.Message("pitchwheel", channel=4, pitch=-8192),
              mido.Message("pitchwheel", channel=4, pitch=8191), mido.Message("pitchwheel", channel=4, pitch=-1)]
    rec = SessionRecorder(tmp_path, INFO)
    for i, msg in enumerate(played):
        rec.record_input(msg.bytes(), T0 + i * 0.5)
    for bad in ([0x90, 60], [0x90, 60, 200], [0xF2, 0, 0], [0xF8], []):  # cut short, data byte > 127, song position, clock, nothing
        rec.record_input(bad, T0 + 4.0)
    path = rec.close()
    assert timeline(mido.MidiFile(path).tracks[1]) == [(i * 480, msg) for i, msg in enumerate(played)]  # 0.5 s = one beat at 120 bpm
    assert rec.summary.skipped == 5


def test_journal_is_human_readable_and_written_while_playing(tmp_path):
    rec = SessionRecorder(tmp_path, INFO)
    rec.record_input([0x90, 0x3C, 0x64], T0 + 12.345678)  # the first event is the origin
    rec.record_output(on(1, 0x40, 0x50), T0 + 12.35)
    rec.mark("tempo", T0 + 12.4, bpm=120.0)
    rec.mark("fault", T0 + 13.0, reason="model said \"no\"")
    assert rec.flush()
    lines = rec.journal_path.read_text().splitlines()
    assert lines[0].startswith(MAGIC + " 1 {")
    assert SessionInfo.from_json(lines[0].split(" ", 3)[3]) == INFO
    assert lines[1:] == ["0.000000 in 90 3c 64", "0.004322 out 91 40 50", "0.054322 mark tempo bpm=120.0",
                         '0.654322 mark fault reason="model said \\"no\\""']
    assert rec.lines_written == 4 and rec.write_errors == 0
    rec.close()


def test_close_is_idempotent_later_events_are_ignored_and_names_never_collide(tmp_path):
    first = SessionRecorder(tmp_path, INFO)
    second = SessionRecorder(tmp_path, INFO)  # same second: must not share the file
    assert first.journal_path != second.journal_path
    assert second.journal_path.name == "session-20250102-030405-1.journal"
    first.record_input([0x90, 60, 100], T0)
    path = first.close()
    first.record_input([0x90, 61, 100], T0 + 1)  # after close: dropped, no error
    assert first.close() == path == first.midi_path
    assert len(timeline(mido.MidiFile(path).tracks[1])) == 2  # note-on plus the note-off closing it
    third = SessionRecorder(tmp_path, INFO)  # the first session's MIDI file now holds the name
    assert third.journal_path.name == "session-20250102-030405-2.journal"
    for rec in (second, third):
        rec.record_input([0x90, 62, 100], T0)
    assert len({second.close(), third.close(), path}) == 3


def test_hanging_notes_are_closed_at_the_last_event(tmp_path):
    rec = SessionRecorder(tmp_path, INFO)
    rec.record_input([0x90, 72, 90], T0)  # the musician still holds this at the end
    rec.record_output(on(1, 64), T0)
    rec.record_output(on(1, 64), T0 + 0.25)  # struck twice, ended once: one more note-off owed
    rec.record_output(off(1, 64), T0 + 0.5)
    rec.record_output(on(2, 55), T0 + 0.5)
    rec.record_output(mido.Message("control_change", channel=2, control=123, value=0), T0 + 1.0)  # panic ended it live
    rec.record_output(on(3, 40), T0 + 1.0)
    rec.mark("stop", T0 + 2.0)
    path = rec.close()
    midi = mido.MidiFile(path)
    for track in midi.tracks[1:]:
        assert unended_notes(track) == []
    inp, alto, tenor, bass = (timeline(t) for t in midi.tracks[1:])
    end = 1920  # 2 s at 120 bpm
    assert inp[-1] == (end, mido.Message("note_off", note=72, velocity=0))
    assert alto[-1] == (end, off(1, 64))
    assert tenor[1] == (960, off(2, 55)) and tenor[2][1].control == 123
    assert bass[-1] == (end, off(3, 40))
    assert rec.summary.closed_notes == 3


def test_an_input_stamped_before_the_first_event_shifts_the_file_not_breaks_it(tmp_path):
    rec = SessionRecorder(tmp_path, INFO)
    rec.record_output(on(1, 64), T0)
    rec.record_input([0x90, 60, 100], T0 - 0.25)  # stamped by the driver earlier, handled later
    path = rec.close()
    midi = mido.MidiFile(path)
    assert timeline(midi.tracks[1])[0][0] == 0 and timeline(midi.tracks[2])[0] == (240, on(1, 64))


CHILD = r"""
import sys, mido
from sideman.bridge.recording.recorder import SessionRecorder, SessionInfo
info = SessionInfo(120.0, 4, ("alto",), (1,), started_at="2025-01-02T03:04:05")
rec = SessionRecorder(sys.argv[1], info, flush_interval=3600.0)  # only explicit flushes: a deterministic test
for i in range(50):
    rec.record_input([0x90, 30 + i, 100], 10.0 + i * 0.1)
    rec.record_output(mido.Message("note_on", channel=1, note=30 + i, velocity=90), 10.0 + i * 0.1 + 0.01)
assert rec.flush()
for i in range(50, 60):
    rec.record_input([0x90, 30 + i, 100], 10.0 + i * 0.1)  # never flushed: dies with the process
print("flushed", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_killed_session_is_recovered_up_to_the_last_flush(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    sessions = tmp_path / "sessions"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(sessions)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=REPO, env=env)
    try:
        assert proc.stdout.readline() == "flushed\n"
    finally:
        proc.kill()  # SIGKILL: no close(), no atexit, no flush
        proc.wait(timeout=30)
        proc.stdin.close()
        proc.stdout.close()
    assert proc.returncode == -9
    [journal] = sessions.glob("*.journal")
    [midi_path] = recover(sessions)
    assert midi_path == journal.with_suffix(".mid") and not journal.exists()
    midi = mido.MidiFile(midi_path)
    assert track_names(midi)[1:] == ["input", "alto"]
    inp, alto = (timeline(t) for t in midi.tracks[1:])
    assert [m.note for _, m in inp if m.type == "note_on"] == list(range(30, 80))  # every flushed event, nothing more
    assert [m.note for _, m in alto if m.type == "note_on"] == list(range(30, 80))
    assert all(unended_notes(t) == [] for t in midi.tracks)
    assert alto[0][0] == 10 and inp[1][0] == 96  # 0.01 s and 0.1 s at 120 bpm, 480 ticks per beat


def _finished_journal(directory: Path, events: int) -> Path:
    """A journal as a live session leaves it, without closing (close() would remove it)."""
    rec = SessionRecorder(directory, INFO)
    for i in range(events):
        rec.record_output(on(1, 40 + i), T0 + i * 0.5)
        rec.record_output(off(1, 40 + i), T0 + i * 0.5 + 0.25)
    assert rec.flush()
    copy = directory / "copy.journal"
    copy.write_bytes(rec.journal_path.read_bytes())
    rec.close()
    return copy


@pytest.mark.parametrize("events", ["nothing", "transport and controls only"])
def test_a_session_without_a_note_writes_no_file_and_says_so(tmp_path, caplog, events):
    rec = SessionRecorder(tmp_path, INFO)
    if events != "nothing":
        rec.mark("start", T0, step=0)
        rec.record_input([0xF8], T0 + 0.01)
        rec.record_input([0xB0, 64, 127], T0 + 0.02)  # the pedal, but no note
        rec.record_output(mido.Message("control_change", channel=1, control=123), T0 + 0.5)
        rec.record_input([0x90, 60, 0], T0 + 0.6)  # a note-on of velocity 0 ends a note: it plays none
        rec.mark("stop", T0 + 1.0, step=8)
    with caplog.at_level(logging.INFO, logger="sideman"):
        assert rec.close() is None and rec.close() is None
    assert list(tmp_path.iterdir()) == []  # no MIDI file, and no journal for `recover` to turn into one
    assert [r.getMessage() for r in caplog.records] == ["no notes were played in this session, so no session file was written"]


def test_a_killed_session_without_a_note_recovers_to_no_file(tmp_path, capsys):
    rec = SessionRecorder(tmp_path, INFO)
    rec.mark("start", T0, step=0)
    assert rec.flush()
    journal = tmp_path / "killed.journal"
    journal.write_bytes(rec.journal_path.read_bytes())
    rec.close()
    assert main(["recover", str(journal)]) == 0
    assert capsys.readouterr().out == f"{journal}: no notes were played, so no MIDI file\n"
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_header_still_recovers_the_events(tmp_path):
    journal = _finished_journal(tmp_path, events=2)
    lines = journal.read_text().splitlines(keepends=True)
    lines[0] = lines[0][:40] + "\n"  # the JSON is cut: tempo and part names are lost, the notes are not
    journal.write_text("".join(lines))
    [conversion] = recorder_module.recover_journals(journal)[0]
    assert conversion.corrupt_lines == (1,) and conversion.summary.tracks == ("input", "other")
    assert [m.note for _, m in timeline(mido.MidiFile(conversion.midi).tracks[2]) if m.type == "note_on"] == [40, 41]


def test_a_last_line_cut_by_kill_is_ignored(tmp_path):
    journal = _finished_journal(tmp_path, events=5)
    text = journal.read_bytes()
    journal.write_bytes(text[:-6])  # "4.250000 out 81 2c 00\n" cut inside its bytes: must not become "81 2c"
    parsed = parse_journal(journal.read_text(), str(journal))
    assert parsed.truncated and parsed.corrupt_lines == () and len(parsed.events) == 9
    midi = mido.MidiFile(journal_to_midi(journal))
    alto = timeline(midi.tracks[2])
    assert [m.note for _, m in alto if m.type == "note_on"] == [40, 41, 42, 43, 44]
    assert alto[-1] == (2 * 960, off(1, 44))  # its note-off was lost: closed at the last event, 4.0 s


def test_corrupt_lines_are_skipped_counted_and_reported(tmp_path, capsys):
    journal = _finished_journal(tmp_path, events=3)
    lines = journal.read_text().splitlines(keepends=True)
    lines[2] = "0.25\x00\x00 out zz\n"  # disk garbage in the middle
    lines.insert(4, "not an event\n")
    journal.write_text("".join(lines))
    assert main(["recover", str(journal)]) == 0
    out = capsys.readouterr().out
    assert "2 corrupt lines skipped (line 3, 5)" in out and "journal kept" in out
    assert journal.exists(), "a damaged journal stays for a human to look at"
    alto = timeline(mido.MidiFile(journal.with_suffix(".mid")).tracks[2])
    assert [m.note for _, m in alto if m.type == "note_on"] == [40, 41, 42]


@pytest.mark.parametrize("where", ["under a regular file", "in /proc"])
def test_an_unusable_directory_fails_at_construction(tmp_path, where):
    # Tests run as root, for whom chmod does not stop writes: make creation itself impossible instead.
    if where == "under a regular file":
        (tmp_path / "file").write_text("")
        directory = tmp_path / "file" / "sub"
    else:
        directory = Path("/proc/sideman-test/sessions")  # procfs refuses new directories, even to root
    with pytest.raises(RecordingError) as error:
        SessionRecorder(directory, INFO)
    message = str(error.value)
    assert message.startswith(f"cannot record sessions in {directory}: ") and "\n" not in message


def test_a_directory_that_refuses_files_fails_at_construction(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)  # what a read-only directory does for a non-root user
    with pytest.raises(RecordingError, match="Permission denied"):
        SessionRecorder(tmp_path, INFO)


def test_a_disk_full_from_the_start_fails_at_construction_and_leaves_nothing(tmp_path, monkeypatch):
    def disk_full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(RecordingError, match="No space left on device"):
        SessionRecorder(tmp_path, INFO)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_loses_no_event_and_the_midi_goes_to_a_fallback(tmp_path, monkeypatch, caplog):
    sessions, cwd = tmp_path / "sessions", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    rec = SessionRecorder(sessions, INFO)
    rec.record_output(on(1, 30), T0)
    assert rec.flush()

    def disk_full(data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rec, "_write_chunk", disk_full)
    for i in range(1, 40):
        rec.record_output(on(1, 30 + i), T0 + i * 0.1)
        if i % 10 == 0:
            assert not rec.flush()
    real_save = rec._save_midi

    def save(midi: mido.MidiFile, path: Path) -> None:
        if path.parent == sessions:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(midi, path)

    monkeypatch.setattr(rec, "_save_midi", save)
    journal = parse_journal(rec.journal_path.read_text(), "journal")
    assert [e.data for e in journal.events] == [bytes(on(1, 30).bytes())] and journal.corrupt_lines == ()  # a prefix
    with caplog.at_level(logging.WARNING, logger="sideman"):
        path = rec.close()
    assert path == cwd / "session-20250102-030405.mid"
    alto = timeline(mido.MidiFile(path).tracks[2])
    assert [m.note for _, m in alto if m.type == "note_on"] == list(range(30, 70))
    assert rec.write_errors >= 4
    # The truncated journal is gone: `recover` must not write a partial second copy of this session.
    assert not rec.journal_path.exists()
    assert list(sessions.iterdir()) == []
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot write the session journal" in m for m in messages) == 1, "logged once, not once per retry"
    assert any(f"written to {path} instead" in m for m in messages)


def test_a_short_write_is_resumed_where_it_stopped(tmp_path, monkeypatch):
    rec = SessionRecorder(tmp_path, INFO)
    real_write = rec._write_chunk
    calls = []

    def fills_up(data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(data[: len(data) // 2 + 3])  # the disk fills mid-line
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rec, "_write_chunk", fills_up)
    for i in range(20):
        rec.record_output(on(1, 40 + i), T0 + i * 0.1)
    assert not rec.flush()
    assert parse_journal(rec.journal_path.read_text(), "j").truncated
    monkeypatch.setattr(rec, "_write_chunk", real_write)  # space freed
    assert rec.flush()
    journal = parse_journal(rec.journal_path.read_text(), "j")
    assert len(journal.events) == 20 and journal.corrupt_lines == () and not journal.truncated
    assert rec.lines_written == 20
    path = rec.close()
    assert path.parent == tmp_path and not rec.journal_path.exists(), "the MIDI file holds it all: no journal to recover twice"


def test_record_methods_do_no_file_io_on_the_callers_thread(tmp_path, monkeypatch):
    rec = SessionRecorder(tmp_path, INFO)
    calls: list[tuple[str, int]] = []

    def spy(name, real):
        def wrapper(*args, **kwargs):
            calls.append((name, threading.get_ident()))
            return real(*args, **kwargs)
        return wrapper

    for name in ("write", "fsync", "open"):
        monkeypatch.setattr(os, name, spy(f"os.{name}", getattr(os, name)))
    monkeypatch.setattr(builtins, "open", spy("open", builtins.open))
    monkeypatch.setattr(io, "open", spy("io.open", io.open))
    caller = threading.get_ident()
    for i in range(300):
        rec.record_input([0x90, 60, 100], T0 + i * 0.01)
        rec.record_output(on(1, 64), T0 + i * 0.01)
        rec.mark("tempo", T0 + i * 0.01, bpm=120.0)
    assert [c for c in calls if c[1] == caller] == []
    assert rec.flush()
    writes = [ident for name, ident in calls if name == "os.write"]
    assert writes and caller not in writes, "the writer thread, and only it, writes the journal"
    assert rec.lines_written == 900
    monkeypatch.undo()
    rec.close()


def test_recover_command_defaults_to_the_configured_directory(tmp_path, capsys):
    sessions = tmp_path / "sessions"
    _finished_journal(sessions, events=2)
    config = tmp_path / "config.toml"
    config.write_text(f'[recording]\ndirectory = {json.dumps(str(sessions))}\n')
    assert main(["recover", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{sessions / 'copy.journal'} -> {sessions / 'copy.mid'}: 4 messages (tracks: input, alto, tenor, bass)\n")
    assert list(sessions.glob("*.journal")) == []
    assert main(["recover", "--config", str(config)]) == 2  # nothing left
    assert capsys.readouterr().err == f"sideman: error: no session journals in {sessions}: nothing to recover\n"


def test_recover_errors_are_one_line(tmp_path, capsys):
    assert main(["recover", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"sideman: error: {tmp_path / 'nowhere'}: no such file or directory\n"
    not_a_journal = tmp_path / "notes.journal"
    not_a_journal.write_text("shopping list\n")
    assert main(["recover", str(not_a_journal)]) == 2
    assert "not a sideman journal" in capsys.readouterr().err


def test_recover_never_overwrites_and_leaves_a_live_session_alone(tmp_path):
    journal = _finished_journal(tmp_path, events=1)
    existing = journal.with_suffix(".mid")
    existing.write_bytes(b"a file the user cares about")
    [written] = recover(journal)
    assert written == tmp_path / "copy-1.mid" and existing.read_bytes() == b"a file the user cares about"
    if recorder_module.fcntl is None:
        pytest.skip("no advisory locks on this platform")
    live = SessionRecorder(tmp_path, INFO)
    live.record_output(on(1, 60), T0)
    assert live.flush()
    assert recover(tmp_path) == [] and live.journal_path.exists()
    live.close()
