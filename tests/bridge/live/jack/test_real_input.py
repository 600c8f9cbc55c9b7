"""Real-world input through a real `sideman run` on JACK: broken SysEx, panic after a lost note-off, drums,
a stalled server at Ctrl-C, feedback loops, second instances. What the user sees is what is checked."""

from __future__ import annotations

import re
import signal
import time

import mido
import pytest

from sideman.bridge.midi import ALL_NOTES_OFF, CLOCK, RESET, STOP, SYSEX
from tests.bridge.live.jack.helpers import BridgeProcess, DumpDawClient, private_port_names

pytestmark = pytest.mark.jack


def _stop_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("Sideman stopped:"))


@pytest.fixture
def thru_bridge(jack_server, tmp_path):
    ports, port_in, port_out = private_port_names()  # other runs may share the JACK server
    config = tmp_path / "ports.toml"
    config.write_text(ports)
    bridge = BridgeProcess("--thru", "--no-engine", "--no-record", "--quiet", "--config", str(config))
    daw = DumpDawClient(port_in, port_out)
    yield bridge, daw
    daw.close()
    if bridge.proc.poll() is None:
        bridge.terminate()


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
