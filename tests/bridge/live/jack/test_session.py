"""`sideman run`'s session on a real JACK server: however its block ends, the bridge stops, every note
ends, the ports close, the recording is written and the signal handlers are put back."""

from __future__ import annotations

import os
import signal
import subprocess

import mido
import pytest

from sideman.bridge.config import Config
from sideman.bridge.errors import PortNotFoundError
from sideman.bridge.live.session import session
from tests.bridge.live.jack.helpers import DumpDawClient, private_port_names, unmatched_note_ons


def jack_ports() -> str:
    return subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout


def session_config(tmp_path, **ports) -> Config:
    _, port_in, port_out = private_port_names()
    ports = {"input_name": port_in, "output_name": port_out, **ports}
    return (Config().replace("ports", api="jack", client_name=f"sideman-test-session-{os.getpid()}", **ports)
            .replace("bridge", thru=True).replace("recording", directory=str(tmp_path / "sessions")))


def test_an_exception_in_the_block_still_ends_every_note_closes_the_ports_and_saves_the_session(tmp_path, jack_server):
    config = session_config(tmp_path)
    client = config.ports.client_name
    before = signal.getsignal(signal.SIGTERM)
    got, daw = [], None
    try:
        with pytest.raises(RuntimeError, match="the caller failed"):
            with session(config, [], []) as live:
                assert signal.getsignal(signal.SIGTERM) == live.on_signal
                daw = DumpDawClient(config.ports.input_name, config.ports.output_name)
                daw.send(mido.Message("note_on", note=60, velocity=100))  # a note held when the caller fails
                got += [s.msg for s in daw.collect(count=1, timeout=5.0)]
                assert got == [mido.Message("note_on", note=60, velocity=100)]  # thru
                raise RuntimeError("the caller failed")
        got += [s.msg for s in daw.collect(timeout=2.0, quiet=0.5)]
    finally:
        if daw is not None:
            daw.close()
    assert unmatched_note_ons(got) == set(), got  # ended at the DAW
    assert signal.getsignal(signal.SIGTERM) is before
    assert f"{client}:" not in jack_ports() and f"{client}-in:" not in jack_ports()
    recorded = [m for track in mido.MidiFile(live.recording).tracks for m in track if m.type in ("note_on", "note_off")]
    assert unmatched_note_ons(recorded) == set() and any(m.type == "note_on" and m.velocity for m in recorded), recorded


def test_a_port_that_fails_to_open_closes_the_one_opened_before_it(tmp_path, jack_server):
    config = session_config(tmp_path, connect_input="No Such Port 9000")
    with pytest.raises(PortNotFoundError):
        with session(config, [], []):
            pass
    assert config.ports.client_name not in jack_ports()
    assert not (tmp_path / "sessions").exists() or not list((tmp_path / "sessions").iterdir())


def test_the_xrun_advice_goes_by_the_server_the_session_ran_on(tmp_path, jack_server, monkeypatch):
    from sideman.bridge.live.jack.watch import JackWatch

    # A realtime server, as a watch sees it only while it is open (a closed watch asks no server).
    monkeypatch.setattr(JackWatch, "server_realtime", property(lambda watch: bool(watch._client)))
    monkeypatch.setattr(JackWatch, "xruns", property(lambda watch: 1))  # one, whatever this server reports meanwhile
    config = session_config(tmp_path).replace("bridge", realtime_priority=0).replace("recording", enabled=False)
    with session(config, [], []) as live:
        assert live.watch is not None
    last = live.farewell().splitlines()[-1]
    assert last.startswith("The JACK server reported ") and last.endswith(" A larger JACK period or a less busy machine helps.")
