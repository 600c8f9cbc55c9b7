"""Call and response live through the real JACK server: a pause gets an answer, playing again silences it."""

from __future__ import annotations

import signal
import time

import mido
import pytest

from sideman.bridge.model.melody import DEFAULT_MELODY
from tests.bridge.live.jack.helpers import BridgeProcess, DumpDawClient, private_port_names, unmatched_note_ons

pytestmark = pytest.mark.jack

ANSWER_CHANNEL = 4  # 0-based: [engine] answer_channel = 5
BEAT = 0.6  # 100 BPM
CALL = [67, 69, 71, 72, 74, 72, 71, 69]  # two bars of G major, a note a beat


def until(t: float) -> None:
    while time.perf_counter() < t:
        time.sleep(0.001)


def answer_ons(log):
    return [s for s in log if s.msg.type == "note_on" and s.msg.velocity and s.msg.channel == ANSWER_CHANNEL]


def test_a_pause_gets_an_answer_and_playing_again_silences_it(tmp_path, jack_server):
    assert DEFAULT_MELODY.exists(), f"the shipped answer model {DEFAULT_MELODY} is missing"
    ports, port_in, port_out = private_port_names()
    config = tmp_path / "sideman.toml"
    config.write_text(ports + f'[bridge]\nclock = "internal"\ntempo = 100.0\n[recording]\nenabled = false\n[status]\nquiet = true\n')
    bridge = BridgeProcess("--config", str(config), "--mode", "answer")
    daw = DumpDawClient(port_in, port_out)
    try:
        t0 = time.perf_counter()
        for i, note in enumerate(CALL):
            until(t0 + i * BEAT)
            daw.send(mido.Message("note_on", channel=0, note=note, velocity=80))
            until(t0 + (i + 0.8) * BEAT)
            daw.send(mido.Message("note_off", channel=0, note=note))
        call_end = time.perf_counter()
        log = []
        while not answer_ons(log) and time.perf_counter() < call_end + 3.0:
            log += daw.collect(count=1, timeout=0.05)
        first = answer_ons(log)
        assert first, f"no answer within 3 s of the call's end: {[s.msg for s in log]}"
        assert not [s for s in log if s.msg.type == "note_on" and s.msg.velocity and s.msg.channel in (1, 2, 3)], "parts played in answer mode"
        latency = first[0].t - call_end
        assert latency >= 0.55  # the pause is waited for: max(0.6 s, a beat), less a JACK period or two
        print(f"live answer: first answer note {latency * 1e3:.0f} ms after the call's last note-off")
        # Play again while the answer's first note sounds (a 16th at least): it ends at once, and no more comes.
        sounding = first[0].msg.note
        played = time.perf_counter()
        daw.send(mido.Message("note_on", channel=0, note=60, velocity=80))
        after = daw.collect(timeout=1.5, quiet=1.5)
        offs = [s for s in after if s.msg.channel == ANSWER_CHANNEL and (s.msg.type == "note_off" or s.msg.velocity == 0)]
        assert offs and offs[0].msg.note == sounding and offs[0].t - played < 0.2, [s.msg for s in after]
        assert not answer_ons(after), "the answer went on after the player played again"
        daw.send(mido.Message("note_off", channel=0, note=60))
        code, out, err = bridge.terminate(signal.SIGTERM)
        assert code == 0, err
        log += after + daw.collect(timeout=1.0, quiet=0.3)
        assert unmatched_note_ons([s.msg for s in log]) == set()
    finally:
        daw.close()
        if bridge.proc.poll() is None:
            bridge.terminate()
