"""Ports are context managers: the end of a `with` block closes them, however it ends, and an output
ends every note it started first."""

from __future__ import annotations

import mido
import pytest

from sideman.bridge.errors import PortError
from sideman.bridge.live.ports import FakeOutput, SilencingOutput


def test_a_fake_output_closes_when_its_block_ends():
    with FakeOutput() as out:
        out.send(mido.Message("note_on", note=60))
    assert out.closed
    with pytest.raises(PortError):
        out.send(mido.Message("note_off", note=60))


def test_an_output_ends_its_notes_and_closes_when_an_exception_ends_its_block():
    port = FakeOutput()
    with pytest.raises(RuntimeError):
        with SilencingOutput(port, flush_seconds=0) as out:
            out.send(mido.Message("note_on", channel=2, note=64, velocity=90))
            out.send_bytes(bytes([0x93, 50, 80]))
            raise RuntimeError("the caller failed")
    assert port.closed
    ended = {(m.channel, m.note) for m in port.sent if m.type == "note_off"}
    assert ended == {(2, 64), (3, 50)}


def test_closing_twice_closes_once():
    closes = []

    class CountingPort(FakeOutput):
        def close(self) -> None:
            closes.append(1)
            super().close()

    out = SilencingOutput(CountingPort(), flush_seconds=0)
    with out:
        out.close()
    assert closes == [1]
