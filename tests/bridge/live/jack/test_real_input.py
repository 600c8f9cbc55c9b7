"""Real-world input through a real `sideman run` on JACK: broken SysEx, panic after a lost note-off, drums,
a stalled server at Ctrl-C, feedback loops, second instances. What the user sees is what is checked."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import mido
import pytest

from sideman.bridge.midi import ALL_NOTES_OFF, CLOCK, PERCUSSION_CHANNEL, RESET, STOP, SYSEX, TUNE_REQUEST
from tests.bridge.live.jack.helpers import (REPO, BridgeProcess, DumpDawClient, PrivateJackServer, private_port_names,
                                           unmatched_note_ons)

pytestmark = pytest.mark.jack


def _stop_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("Sideman stopped:"))


INTERNAL_CLOCK = '[bridge]\nclock = "internal"\ntempo = 120.0\n'
QUIET_NO_RECORDING = '[recording]\nenabled = false\n[status]\nquiet = true\n'


@contextlib.contextmanager
def running(tmp_path, toml: str, *args: str, inject: str = "", env: dict | None = None):
    """`sideman run` with its own port names and `toml` (+ args), and a DAW on its ports: yields (bridge, daw);
    `inject`: a sitecustomize the bridge process loads at start (a fault put in on purpose)."""
    ports, port_in, port_out = private_port_names()  # other runs may share the JACK server
    config = tmp_path / "sideman.toml"
    config.write_text(ports + toml)
    env = dict(env or {})
    if inject:
        (tmp_path / "inject").mkdir()
        (tmp_path / "inject" / "sitecustomize.py").write_text(inject)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp_path / "inject"), os.environ.get("PYTHONPATH", "")) if p)
    bridge = BridgeProcess("--config", str(config), *args, env=env)
    daw = None
    try:
        daw = DumpDawClient(port_in, port_out)
        daw.ports = (port_in, port_out)
        yield bridge, daw
    finally:
        if daw is not None:
            daw.close()
        if bridge.proc.poll() is None:
            bridge.proc.kill()
            bridge.proc.communicate()


@pytest.fixture
def thru_bridge(jack_server, tmp_path):
    with running(tmp_path, "[status]\nquiet = true\n", "--thru", "--no-engine", "--no-record") as bridge_and_daw:
        yield bridge_and_daw


def test_a_sysex_without_its_end_is_counted_malformed_and_what_follows_still_arrives(thru_bridge):
    bridge, daw = thru_bridge
    daw.out.send_message([0x90, 60, 100])
    assert [s.msg.type for s in daw.collect(count=1)] == ["note_on"]
    daw.out.send_message([SYSEX, 0x7D, 0x01])  # no F7: a sender that broke off
    after = [[0x80, 60, 0], [0x90, 64, 90], [0x80, 64, 0], [CLOCK], [0xB0, ALL_NOTES_OFF, 0], [STOP], [RESET]]
    for data in after:
        time.sleep(0.005)
        daw.out.send_message(data)
    got = [s.msg for s in daw.collect(count=4, timeout=3.0)]
    assert got == [mido.Message("note_off", note=60, velocity=0), mido.Message("note_on", note=64, velocity=90),
                   mido.Message("note_off", note=64, velocity=0), mido.Message("control_change", control=ALL_NOTES_OFF)]
    code, out, err = bridge.terminate(signal.SIGINT)
    assert code == 0, err
    line = _stop_line(out)
    assert re.search(rf"\b{2 + len(after)} messages in\b", line) and "1 malformed" in line, line


PART_CHANNELS = (1, 2, 3)  # 0-based: the default model's alto, tenor, bass on channels 2-4


def _part_note_ons(stamped) -> list[mido.Message]:
    return [s.msg for s in stamped if s.msg.type == "note_on" and s.msg.velocity and s.msg.channel in PART_CHANNELS]


def _collect_for(daw, seconds: float) -> list:
    got, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        got += daw.collect(timeout=0.2, quiet=0.2)
    return got


@pytest.mark.parametrize("silencer", [[0xB0, 26, 127], [0xB0, ALL_NOTES_OFF, 0]], ids=["panic", "all-notes-off"])
def test_after_a_lost_note_off_panic_leaves_the_parts_silent_until_the_player_plays(jack_server, tmp_path, silencer):
    with running(tmp_path, INTERNAL_CLOCK + QUIET_NO_RECORDING) as (bridge, daw):
        for note in (72, 74, 76, 77, 79):
            daw.send(mido.Message("note_on", note=note, velocity=90))
            time.sleep(0.25)
            if note != 79:  # the last note-off is lost on the way
                daw.send(mido.Message("note_off", note=note))
        assert _part_note_ons(_collect_for(daw, 0.5)), "the parts never played"
        daw.out.send_message(silencer)
        time.sleep(0.3)  # the silencing itself
        daw.collect(timeout=0.5)
        after = _part_note_ons(_collect_for(daw, 3.0))
        assert after == [], f"{len(after)} part notes after the player silenced everything"
        daw.send(mido.Message("note_on", note=67, velocity=90))
        assert _part_note_ons(_collect_for(daw, 2.0)), "the parts did not come back when the player did"
        daw.send(mido.Message("note_off", note=67))
        code, _, err = bridge.terminate(signal.SIGINT)
        assert code == 0, err


@pytest.mark.private_jack
def test_ctrl_c_while_the_jack_server_is_stopped_saves_the_session_and_exits_within_seconds(tmp_path, monkeypatch):
    server = PrivateJackServer()
    try:
        monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
        toml = INTERNAL_CLOCK + f'[recording]\ndirectory = "{tmp_path}"\n[status]\nquiet = true\n'
        with running(tmp_path, toml, env=server.env) as (bridge, daw):
            daw.send(mido.Message("note_on", note=72, velocity=90))  # held: the parts play on
            assert _part_note_ons(_collect_for(daw, 1.5)), "the parts never played"
            os.kill(server.proc.pid, signal.SIGSTOP)
            started = time.monotonic()
            bridge.proc.send_signal(signal.SIGINT)
            try:
                out, err = bridge.proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                saved = sorted(p.name for p in tmp_path.glob("*.mid"))
                raise AssertionError(f"still running 15 s after Ctrl-C with the JACK server stopped; session MIDI files: {saved}")
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)  # before the DAW's client closes
        seconds = time.monotonic() - started
        assert bridge.proc.returncode == 0 and "Traceback" not in err, (out, err)
        assert seconds < 8, f"stopping took {seconds:.1f} s"
        assert "Session saved:" in out, out
        midi = mido.MidiFile(out.split("Session saved:")[1].strip().splitlines()[0])
        assert any(m.type == "note_on" and m.velocity for track in midi.tracks for m in track)
        print(f"Ctrl-C with the server stopped: exited in {seconds:.1f} s; stderr: {err.strip()}")
    finally:
        if server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()


@pytest.mark.parametrize("input_channel", [0, 10], ids=["any-channel", "channel-10-asked-for"])
def test_drums_on_channel_10_become_the_tune_only_when_asked_for(jack_server, tmp_path, input_channel):
    with running(tmp_path, INTERNAL_CLOCK + f"input_channel = {input_channel}\n" + QUIET_NO_RECORDING) as (bridge, daw):
        got = []
        for i in range(16):  # two bars of eighths: kick or snare with the hi-hat, a crash on each bar
            hits = ((36,) if i % 2 == 0 else (38,)) + (42,) + ((49,) if i % 8 == 0 else ())
            for note in hits:
                daw.send(mido.Message("note_on", channel=PERCUSSION_CHANNEL, note=note, velocity=100))
            time.sleep(0.1)
            for note in hits:
                daw.send(mido.Message("note_off", channel=PERCUSSION_CHANNEL, note=note))
            got += daw.collect(timeout=0.15, quiet=0.15)
        got += _collect_for(daw, 0.5)
        parts = _part_note_ons(got)
        if input_channel == 10:
            assert parts, "input_channel = 10 asks for the drums as the tune"
        else:
            assert parts == [], f"the drums became the tune: {len(parts)} part notes"
        code, _, err = bridge.terminate(signal.SIGINT)
        assert code == 0, err


# Loaded by the bridge process at start (sitecustomize on its PYTHONPATH): the third tick's voicing raises,
# as a bug in the engine thread would.
ENGINE_BUG = """
from sideman.bridge.core import voicing

_apply, _calls = voicing.PartVoicer.apply, []

def apply(self, tokens, velocities):
    _calls.append(1)
    if len(_calls) == 3:
        raise RuntimeError("injected engine bug")
    return _apply(self, tokens, velocities)

voicing.PartVoicer.apply = apply
"""


def test_an_engine_thread_that_dies_ends_the_session_with_one_line_and_no_note_left_sounding(jack_server, tmp_path):
    toml = INTERNAL_CLOCK + f'[recording]\ndirectory = "{tmp_path}"\n[status]\nquiet = true\n'
    with running(tmp_path, toml, inject=ENGINE_BUG) as (bridge, daw):
        daw.send(mido.Message("note_on", note=72, velocity=90))
        try:
            out, err = bridge.proc.communicate(timeout=15)  # it must stop by itself
        except subprocess.TimeoutExpired:
            raise AssertionError("the bridge ran on after its engine thread died")
        got = [s.msg for s in _collect_for(daw, 0.5)]
    assert any(m.type == "note_on" and m.velocity and m.channel in PART_CHANNELS for m in got), "the parts never played"
    assert unmatched_note_ons(got) == set(), "a part note was left sounding"
    assert bridge.proc.returncode not in (0, None), (out, err)
    assert err.strip().splitlines() == ["sideman: error: the engine thread failed (RuntimeError: injected engine bug): "
                                        "every note was ended and the session stopped; `sideman -v run` shows where"], err
    assert "Session saved:" in out


def test_clock_without_start_shows_that_sideman_waits_for_start(jack_server, tmp_path):
    with running(tmp_path, "[recording]\nenabled = false\n") as (bridge, daw):  # the status line every 5 s (no terminal)
        started = time.monotonic()
        while time.monotonic() - started < 5.5:  # a DAW's clock at 120 BPM, its transport never started
            daw.out.send_message([CLOCK])
            time.sleep(60 / 120 / 24)
        code, out, err = bridge.terminate(signal.SIGINT)
    assert code == 0, err
    status = [line for line in out.splitlines() if " | " in line]
    assert status and status[-1].startswith("midi clock") and "■ waiting for Start (or Continue) |" in status[-1], out


def test_thru_passes_neither_system_reset_nor_tune_request(thru_bridge):
    bridge, daw = thru_bridge
    for data in ([RESET], [TUNE_REQUEST], [0x90, 60, 100], [0x80, 60, 0]):
        daw.out.send_message(data)
        time.sleep(0.005)
    got = [s.msg.type for s in daw.collect(timeout=2.0, quiet=0.5)]
    assert got == ["note_on", "note_off"], got


def _stop_counts(line: str) -> dict[str, int]:
    """'Sideman stopped: 5000 messages in, 7064 out, 0 dropped, 0 malformed.' -> {'in': 5000, 'out': 7064, ...}"""
    return {word: int(n) for n, word in re.findall(r"(\d+) (?:messages )?(in|out|dropped|malformed)\b", line)}


def test_closing_after_thousands_of_held_notes_ends_each_once_and_the_stop_line_counts_it_all(thru_bridge):
    bridge, daw = thru_bridge
    for i in range(5000):  # 2,048 keys on 16 channels, most struck more than once, none released
        daw.out.send_message([0x90 | (i // 128) % 16, i % 128, 100])
        if i % 100 == 99:
            time.sleep(0.01)
    time.sleep(1.0)
    code, out, err = bridge.terminate(signal.SIGINT)
    assert code == 0, err
    counts = _stop_counts(_stop_line(out))
    # Every message in went out or was counted dropped; so did the closing: 2,048 note-offs and 16 All Notes Off.
    assert counts["out"] + counts["dropped"] == counts["in"] + 2048 + 16, _stop_line(out)


# Loaded by the bridge process at start: its engine thread stands still for a while at the first message,
# as on a machine that swaps.
ENGINE_STALL = """
import time
from sideman.bridge.live import loop

_handle, _calls = loop.LiveBridge.handle, []

def handle(self, received):
    if not _calls:
        _calls.append(1)
        time.sleep(4.0)
    return _handle(self, received)

loop.LiveBridge.handle = handle
"""


def test_a_flood_while_the_engine_thread_stands_still_is_dropped_at_the_relay_and_counted(jack_server, tmp_path):
    with running(tmp_path, "", "--no-engine", "--no-record", "--quiet", inject=ENGINE_STALL) as (bridge, daw):
        for i in range(150_000):  # ~2 MB of records for the relay's 1 MiB pipe, while nobody reads it
            daw.out.send_message([0xA0, i % 128, i % 128])  # aftertouch: nothing the bridge acts on
            if i % 500 == 499:
                time.sleep(0.003)  # what the sending client's JACK port takes per cycle
        time.sleep(4.0)
        code, out, err = bridge.terminate(signal.SIGINT)
    assert code == 0, err
    counts = _stop_counts(_stop_line(out))
    # Accounted for: more than the pipe holds (~80,000 records), so what did not fit was counted, not waited for.
    assert 100_000 < counts["in"] + counts["dropped"] <= 150_000, _stop_line(out)
    assert "the MIDI input relay's pipe was full" in err
    print(f"flood while the engine stood still: {_stop_line(out)}")


def test_listening_to_its_own_output_is_refused_with_one_line(jack_server, tmp_path):
    ports, _, port_out = private_port_names()
    config = tmp_path / "ports.toml"
    config.write_text(ports + QUIET_NO_RECORDING)
    proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "run", "--api", "jack", "--no-engine", "--config", str(config),
                           "--in", port_out], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"sideman: error: 'Sideman(-\d+)?:{port_out}' is Sideman's own output: "
                                            r"listening to it, Sideman would hear itself; choose another input", lines[0]), lines


def test_its_own_output_connected_to_its_input_is_disconnected_with_one_line(thru_bridge):
    bridge, daw = thru_bridge
    listing = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.splitlines()
    own_out = next(name for name in listing if name.endswith(f":{daw.ports[1]}"))
    own_in = next(name for name in listing if name.endswith(f":{daw.ports[0]}"))
    subprocess.run(["jack_connect", own_out, own_in], check=True)  # a patchbay closes the loop
    deadline = time.monotonic() + 5
    while own_in in subprocess.run(["jack_lsp", "-c", own_out], capture_output=True, text=True).stdout:
        assert time.monotonic() < deadline, "the loop from Sideman's output to its input was left connected"
        time.sleep(0.05)
    daw.send(mido.Message("note_on", note=60, velocity=90))  # thru: it would go round and round
    daw.send(mido.Message("note_off", note=60))
    assert [s.msg.type for s in daw.collect(count=2, timeout=3.0)] == ["note_on", "note_off"]
    code, out, err = bridge.terminate(signal.SIGINT)
    assert code == 0 and _stop_counts(_stop_line(out))["in"] == 2, out
    assert err.strip().splitlines() == [f"sideman: {own_out!r} (Sideman's own output) was connected to {own_in!r}: "
                                        "Sideman would hear itself; disconnected it"], err


def test_a_second_sideman_says_the_port_names_jack_gave_it_and_ports_marks_both(jack_server, tmp_path):
    ports, _, _ = private_port_names()
    config = tmp_path / "ports.toml"
    config.write_text(ports + QUIET_NO_RECORDING)
    first = BridgeProcess("--no-engine", "--config", str(config))
    second = None
    try:
        second = BridgeProcess("--no-engine", "--config", str(config))
        named = re.compile(r"listening on '([^']+)', playing on '([^']+)'")
        names = [named.search(bridge.banner).groups() for bridge in (first, second)]
        assert names[0] != names[1] and all(":" in name for pair in names for name in pair), names
        listing = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.splitlines()
        assert all(name in listing for pair in names for name in pair), (names, listing)
        shown = subprocess.run([sys.executable, "-m", "sideman.bridge", "ports", "--api", "jack", "--config", str(config)],
                               capture_output=True, text=True, cwd=REPO, timeout=60).stdout.splitlines()
        for name in (name for pair in names for name in pair):
            assert f"  {name}   (Sideman's own: connected to Sideman, it would hear itself)" in shown, shown
    finally:
        for bridge in (first, second):
            if bridge is not None and bridge.proc.poll() is None:
                bridge.terminate()
