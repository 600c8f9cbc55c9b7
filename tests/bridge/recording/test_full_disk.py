"""A disk that is full, or fills up, under a live session: the live loop on a fake output, the real recorder.

The disk fills for the session directory only: `os.write` to a file in it fails with ENOSPC once
`room` bytes are used, and no temporary file can be made there (so the MIDI file must go elsewhere).
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path

import mido
import pytest

from sideman.bridge.config import Config
from sideman.bridge.core.engine import Engine, EngineSettings
from sideman.bridge.errors import RecordingError
from sideman.bridge.live.inbox import Inbox, Received
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.live.ports import FakeOutput
from sideman.bridge.live.session import open_recorder
from tests.fakes import FakeStepModel

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="tells a file's directory from /proc/self/fd")


def fill_up(monkeypatch, directory: Path, room: int) -> None:
    """From now on `directory` takes `room` more bytes, then every write to a file in it fails (ENOSPC)."""
    real_write, real_mkstemp = os.write, tempfile.mkstemp
    left = [room]

    def in_directory(fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith(str(directory))
        except OSError:
            return False

    def write(fd, data):
        if in_directory(fd):
            if len(data) > left[0]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            left[0] -= len(data)
        return real_write(fd, data)

    def mkstemp(*args, **kwargs):
        if str(kwargs.get("dir", "")).startswith(str(directory)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def session(tmp_path):
    config = Config().replace("bridge", clock="internal", thru=True, tempo=120.0).replace(
        "recording", directory=str(tmp_path / "sessions"))
    return config, [Engine(FakeStepModel(), EngineSettings(part_channels=(1, 2, 3)))]


def test_a_full_disk_at_the_start_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    config, engines = session(tmp_path)
    (tmp_path / "sessions").mkdir()
    fill_up(monkeypatch, tmp_path / "sessions", room=0)
    with pytest.raises(RecordingError) as error:
        open_recorder(config, engines, [Path("model.onnx")])
    line = f"sideman: error: {error.value}"  # what the CLI prints for a SidemanError
    assert "\n" not in line and "cannot record sessions in" in line and "No space left on device" in line
    assert list((tmp_path / "sessions").iterdir()) == []


def note_ons(messages) -> int:
    return sum(1 for m in messages if m.type == "note_on" and m.velocity)


def test_a_disk_filling_up_mid_session_loses_no_recording(tmp_path, monkeypatch, caplog):
    room = 1500
    config, engines = session(tmp_path)
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    monkeypatch.chdir(tmp_path)  # when the session directory is full, the MIDI file goes to the current directory
    fill_up(monkeypatch, sessions, room)
    recorder = open_recorder(config, engines, [Path("model.onnx")])
    now = [0.0]
    out = FakeOutput()
    bridge = LiveBridge(config, Inbox(64), out, engines, recorder, now=lambda: now[0])
    bridge.output._flush_seconds = 0
    step = bridge.internal.step_seconds
    played_after_full = 0
    with caplog.at_level(logging.INFO, logger="sideman"):
        for beat in range(400):  # a note a beat, four 16ths each, until well after the disk is full
            note = 72 + beat % 5
            bridge.handle(Received([0x90, note, 90], now[0]))
            for _ in range(4):
                bridge.poll_clock(now[0])
                now[0] += step
            bridge.handle(Received([0x80, note, 0], now[0] - step / 2))
            full = not recorder.flush()
            played_after_full += full
            if played_after_full >= 20:
                break
        assert played_after_full == 20, "the disk never filled up"
        path = bridge.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot write the session journal" in m for m in messages) == 1, messages
    assert path.parent == tmp_path
    midi = mido.MidiFile(path)  # from memory: everything, also what never reached the journal
    tracks = {t.name: [m for m in t if not m.is_meta] for t in midi.tracks}
    assert note_ons(tracks["input"]) == beat + 1
    sent = [m for name, t in tracks.items() if name != "input" for m in t]
    assert note_ons(sent) == note_ons(out.sent) > 0  # every note the DAW got, thru and parts
    # The journal held only the start: gone, so `sideman recover` cannot make a partial copy of this session.
    assert list(sessions.iterdir()) == []
