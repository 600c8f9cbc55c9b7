"""Faults through the real process and JACK server: bad files, signals, kill -9, vanishing clients and servers.

A full disk is tested on the live loop with fake ports and the real recorder: tests/bridge/recording/test_full_disk.py.

What the user sees is checked as the user would: exit codes, the one line on stderr, no traceback,
the notes ended at the DAW, and a session MIDI file that loads.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest

from sideman.bridge.engines import DEFAULT_MODEL
from tests.bridge.live.jack.helpers import REPO, BridgeProcess, DumpDawClient, PrivateJackServer, private_port_names, unmatched_note_ons

PART_CHANNELS = (1, 2, 3)



# -- bad files and directories: one line, exit code 2 ---------------------------------------------------

def sideman(*args, preexec=None, cwd=None, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "sideman.bridge", *args], capture_output=True, text=True, cwd=cwd or REPO, timeout=timeout,
                          preexec_fn=preexec, env={**os.environ, **(env or {})})


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sideman: error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def session_config(tmp_path, directory=None, extra=""):
    directory = directory or tmp_path / "sessions"
    path = tmp_path / "sideman.toml"
    path.write_text(f'[recording]\ndirectory = "{directory}"\n[status]\nquiet = true\n{extra}')
    return str(path)


def wrong_contract_model(path: Path) -> Path:
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(DEFAULT_MODEL))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "wrong contract", "missing", "a directory"])
def test_bad_model_files_are_one_line_and_nothing_is_recorded(tmp_path, kind):
    path = tmp_path / "model.onnx"
    if kind == "corrupt":
        path.write_bytes(os.urandom(5000))
    elif kind == "truncated":
        path.write_bytes(DEFAULT_MODEL.read_bytes()[: DEFAULT_MODEL.stat().st_size // 2])
    elif kind == "wrong contract":
        wrong_contract_model(path)
    elif kind == "a directory":
        path.mkdir()
    proc = sideman("run", "--api", "jack", "--config", session_config(tmp_path), "--model", str(path))
    line = assert_one_line_error(proc, str(path))
    print(f"{kind}: {line}")
    assert not (tmp_path / "sessions").exists()


def drop_file_permission_override() -> None:
    """preexec_fn: even as root, make file permissions apply (drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def can_drop_permission_override() -> bool:
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=drop_file_permission_override, capture_output=True)
    return probe.returncode == 0


@pytest.mark.parametrize("kind", ["not TOML", "not UTF-8", "a directory", "missing", "unreadable", "bad value"])
def test_unusable_config_is_one_line(tmp_path, kind):
    path = tmp_path / "config.toml"
    preexec = None
    if kind == "not TOML":
        path.write_text("[bridge\nthru = yes\n")
    elif kind == "not UTF-8":
        path.write_bytes(b"\xff\xfe[bridge]\x00\x81")
    elif kind == "a directory":
        path.mkdir()
    elif kind == "unreadable":
        if not can_drop_permission_override():
            pytest.skip("cannot make file permissions apply to this root process")
        path.write_text("[bridge]\nthru = true\n")
        path.chmod(0)
        preexec = drop_file_permission_override
    elif kind == "bad value":
        path.write_text("[bridge]\ntempo = 900\n")
    proc = sideman("run", "--api", "jack", "--config", str(path), preexec=preexec)
    print(f"{kind}: {assert_one_line_error(proc, str(path))}")


# -- through JACK ---------------------------------------------------------------------------------------

def start_bridge(tmp_path, *extra, **kwargs) -> BridgeProcess:
    """`sideman run` with thru, the internal clock, recording into tmp_path, and ports of its own (`.ports`)."""
    ports, port_in, port_out = private_port_names()
    bridge = BridgeProcess("--config", session_config(tmp_path, extra=ports), "--thru", "--clock", "internal", "--tempo", "120",
                           "--model", str(DEFAULT_MODEL), *extra, **kwargs)
    bridge.ports = (port_in, port_out)
    return bridge


def play_until_parts_sound(daw, note=72, timeout=10.0):
    """Play a melody (the internal clock starts on its first note) until a part strikes a note; the
    last melody note is left held. Returns what arrived."""
    got, deadline, k = [], time.monotonic() + timeout, 0
    melody = [note, note + 2, note + 4, note + 5, note + 7, note + 5, note + 4, note + 2]
    while time.monotonic() < deadline:
        daw.send(mido.Message("note_on", channel=0, note=melody[k % len(melody)], velocity=90))
        got += [s.msg for s in daw.collect(timeout=0.3, quiet=0.3)]
        if any(m.type == "note_on" and m.velocity and m.channel in PART_CHANNELS for m in got):
            return got
        daw.send(mido.Message("note_off", channel=0, note=melody[k % len(melody)]))
        k += 1
    raise AssertionError(f"no part note within {timeout} s: {got}")


def saved_midi(out: str) -> mido.MidiFile:
    assert "Session saved:" in out, out
    return mido.MidiFile(out.split("Session saved:")[1].strip().splitlines()[0])


def note_ons(midi: mido.MidiFile) -> int:
    return sum(1 for track in midi.tracks for m in track if m.type == "note_on" and m.velocity)


@pytest.mark.jack
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_while_notes_sound_ends_every_note_and_saves_the_session(tmp_path, jack_server, sig):
    bridge = start_bridge(tmp_path)
    daw = DumpDawClient(*bridge.ports)
    try:
        got = play_until_parts_sound(daw)
        code, out, err = bridge.terminate(sig)
        got += [s.msg for s in daw.collect(timeout=2.0)]
        assert code == 0 and "Traceback" not in err, err
        assert unmatched_note_ons(got) == set()
        used = {m.channel for m in got if m.type == "note_on"}
        assert used <= {m.channel for m in got if m.type == "control_change" and m.control == 123}  # All Notes Off on each
        assert note_ons(saved_midi(out)) > 0
        assert not list((tmp_path / "sessions").glob("*.journal"))
    finally:
        daw.close()
        if bridge.proc.poll() is None:
            bridge.terminate()


@pytest.mark.jack
def test_kill_9_leaves_a_journal_that_recover_turns_into_the_session(tmp_path, jack_server):
    bridge = start_bridge(tmp_path)
    daw = DumpDawClient(*bridge.ports)
    try:
        play_until_parts_sound(daw)
        journal = next((tmp_path / "sessions").glob("*.journal"))
        deadline = time.monotonic() + 5.0
        while " out 9" not in journal.read_text() and time.monotonic() < deadline:  # the writer flushes every 0.25 s
            time.sleep(0.05)
        bridge.proc.kill()
        bridge.proc.communicate(timeout=10)
    finally:
        daw.close()
        if bridge.proc.poll() is None:
            bridge.proc.kill()
            bridge.proc.communicate()
    assert journal.exists()
    proc = sideman("recover", str(tmp_path / "sessions"))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    print(proc.stdout.strip())
    midi = mido.MidiFile(next((tmp_path / "sessions").glob("*.mid")))
    assert note_ons(midi) > 0


@pytest.mark.jack
def test_the_daw_going_away_and_coming_back(tmp_path, jack_server):
    bridge = start_bridge(tmp_path)
    daw = DumpDawClient(*bridge.ports)
    try:
        play_until_parts_sound(daw)
        daw.close()  # the DAW quits with notes sounding (its notes are its own business now)
        daw = DumpDawClient(*bridge.ports)
        assert bridge.proc.poll() is None
        got = play_until_parts_sound(daw, note=76)
        code, out, err = bridge.terminate(signal.SIGTERM)
        got += [s.msg for s in daw.collect(timeout=2.0)]
        assert code == 0 and "Traceback" not in err, err
        assert mido.Message("note_on", channel=0, note=76, velocity=90) in got  # thru to the new DAW
        assert unmatched_note_ons(got) == set()
        assert note_ons(saved_midi(out)) > 0
    finally:
        daw.close()
        if bridge.proc.poll() is None:
            bridge.terminate()


@pytest.mark.jack
@pytest.mark.private_jack
def test_the_jack_server_going_away_stops_the_bridge_with_one_line(tmp_path, jack_server, monkeypatch):
    server = PrivateJackServer()
    bridge = None
    try:
        monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
        bridge = start_bridge(tmp_path, env=server.env)
        daw = DumpDawClient(*bridge.ports)
        try:
            play_until_parts_sound(daw)
        finally:
            daw.close()
        server.stop()
        out, err = bridge.proc.communicate(timeout=30)  # it must stop by itself: no signal sent
        assert bridge.proc.returncode == 2, (out, err)
        assert "Traceback" not in err
        last = err.strip().splitlines()[-1]
        assert last.startswith("sideman: error: the JACK server stopped while Sideman was running"), err
        print(f"user sees: {last}")
        assert note_ons(saved_midi(out)) > 0
    finally:
        if bridge is not None and bridge.proc.poll() is None:
            bridge.proc.kill()
            bridge.proc.communicate()
        server.stop()


@pytest.mark.jack
@pytest.mark.parametrize("flag", ["--in", "--out"])
def test_a_port_error_leaves_no_session_file_behind(tmp_path, jack_server, flag):
    proc = sideman("run", "--api", "jack", "--config", session_config(tmp_path), "--model", str(DEFAULT_MODEL), flag, "No Such Port 9000")
    assert_one_line_error(proc, "No Such Port 9000")
    assert not (tmp_path / "sessions").exists() or not list((tmp_path / "sessions").iterdir())


@pytest.mark.jack
def test_a_read_only_recording_directory_is_one_line(tmp_path, jack_server):
    if not can_drop_permission_override():
        pytest.skip("cannot make file permissions apply to this root process")
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    sessions.chmod(0o555)
    try:
        proc = sideman("run", "--api", "jack", "--config", session_config(tmp_path), "--model", str(DEFAULT_MODEL),
                       preexec=drop_file_permission_override)
        print(assert_one_line_error(proc, "cannot record sessions in", str(sessions)))
        assert not list(sessions.iterdir())
    finally:
        sessions.chmod(0o755)


@pytest.mark.jack
def test_the_input_relay_dying_stops_the_bridge_cleanly_with_one_line(tmp_path, jack_server):
    """The JACK input port lives in a relay process (bridge/live/jack/relay.py): if it dies, the bridge
    ends every note, saves the session and says what happened, instead of playing on deaf."""
    bridge = start_bridge(tmp_path)
    daw = DumpDawClient(*bridge.ports)
    try:
        got = play_until_parts_sound(daw)
        children = Path(f"/proc/{bridge.proc.pid}/task/{bridge.proc.pid}/children").read_text().split()
        relays = [int(c) for c in children if b"sideman.bridge.live.jack.relay" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(relays) == 1, children
        os.kill(relays[0], signal.SIGKILL)
        out, err = bridge.proc.communicate(timeout=20)
        got += [s.msg for s in daw.collect(timeout=2.0)]
    finally:
        daw.close()
        if bridge.proc.poll() is None:
            bridge.terminate()
    assert bridge.proc.returncode == 2 and "Traceback" not in err, err
    assert "sideman: error: the MIDI input relay process stopped while Sideman was running (exit code -9)" in err
    assert err.count("\n") <= 3, err  # the log line and the error, nothing more
    assert unmatched_note_ons(got) == set()
    assert note_ons(saved_midi(out)) > 0
