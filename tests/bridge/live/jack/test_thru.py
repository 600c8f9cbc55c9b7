"""`sideman run` as a subprocess on the real JACK server: thru, order, and no stuck notes on SIGTERM."""

from __future__ import annotations

import re
import signal

import mido
import pytest

from sideman.bridge.live.realtime import JACK_NOT_REALTIME
from tests.bridge.live.jack.helpers import BridgeProcess, DumpDawClient, jack_server_realtime, private_port_names

pytestmark = pytest.mark.jack


@pytest.fixture
def bridge_and_daw(jack_server, tmp_path):
    ports, port_in, port_out = private_port_names()  # other runs may share the JACK server
    config = tmp_path / "ports.toml"
    config.write_text(ports)
    bridge = BridgeProcess("--thru", "--no-engine", "--no-record", "--quiet", "--config", str(config))
    daw = DumpDawClient(port_in, port_out)
    yield bridge, daw
    daw.close()
    if bridge.proc.poll() is None:
        bridge.terminate()


def test_notes_and_ccs_pass_through_unchanged_and_in_order(bridge_and_daw):
    bridge, daw = bridge_and_daw
    sent = []
    for i, note in enumerate([60, 64, 67, 72]):
        sent.append(mido.Message("note_on", channel=0, note=note, velocity=40 + i))
        sent.append(mido.Message("control_change", channel=0, control=1, value=10 * i))
        sent.append(mido.Message("note_off", channel=0, note=note, velocity=0))
    sent.append(mido.Message("pitchwheel", channel=5, pitch=-1234))
    for msg in sent:
        daw.send(msg)
    got = [s.msg for s in daw.collect(count=len(sent))]
    assert got == sent


def test_sigterm_with_a_held_note_sends_its_note_off_before_the_port_goes(bridge_and_daw):
    bridge, daw = bridge_and_daw
    daw.send(mido.Message("note_on", channel=3, note=62, velocity=90))
    daw.send(mido.Message("note_on", channel=0, note=48, velocity=90))
    daw.send(mido.Message("note_off", channel=0, note=48))
    assert [s.msg.type for s in daw.collect(count=3)] == ["note_on", "note_on", "note_off"]
    code, out, err = bridge.terminate(signal.SIGTERM)
    assert code == 0, err
    tail = [s.msg for s in daw.collect(timeout=2.0)]
    assert mido.Message("note_off", channel=3, note=62, velocity=0) in tail
    # All Notes Off on every channel the bridge used, after the explicit note-off.
    cc123 = [m for m in tail if m.type == "control_change" and m.control == 123]
    assert sorted(m.channel for m in cc123) == [0, 3]
    assert tail.index(mido.Message("note_off", channel=3, note=62, velocity=0)) < tail.index(cc123[0])
    assert "Sideman stopped" in out


def test_sigint_also_silences(bridge_and_daw):
    bridge, daw = bridge_and_daw
    daw.send(mido.Message("note_on", channel=1, note=70, velocity=100))
    assert daw.collect(count=1)
    code, _, err = bridge.terminate(signal.SIGINT)
    assert code == 0, err
    assert mido.Message("note_off", channel=1, note=70, velocity=0) in [s.msg for s in daw.collect(timeout=2.0)]


def test_ports_open_quickly_and_banner_names_them(bridge_and_daw):
    bridge, _ = bridge_and_daw
    # The full JACK names (client:port), as JACK gave them (a client name already taken gets "-01"...).
    assert re.search(r"listening on 'Sideman-in(-\d+)?:Sideman In [^']+', playing on 'Sideman(-\d+)?:Sideman Out [^']+'", bridge.banner), bridge.banner
    # Under a server that is not realtime (CI's) the engine thread must not outrank JACK's threads.
    if jack_server_realtime() is False:
        assert f"engine thread ordinary ({JACK_NOT_REALTIME})" in bridge.banner
    else:
        assert "engine thread realtime priority 1" in bridge.banner or "engine thread ordinary (no realtime rights" in bridge.banner
    print(f"sideman run: ports open {bridge.ready_seconds * 1000:.0f} ms after process start")
