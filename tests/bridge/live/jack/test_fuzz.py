"""A few thousand random raw messages through the real JACK server into `sideman run`, a clock running.

Then SIGTERM, and the same invariants as tests/test_fuzz.py, judged from what arrived at the DAW
client and from the saved session: no stuck note, one note at a time per part, output only on the
part channels or channels the client played on, no clock echoed, a clean exit, a session file that
loads. JACK or rtmidi may refuse some of the messages (rtmidi refuses > 3 bytes that are not SysEx):
those are counted, not sent.
"""

from __future__ import annotations

import random
import signal
import time

import mido
import pytest

from sideman.bridge.midi import is_note_off, is_note_on
from sideman.bridge.engines import DEFAULT_MODEL
from tests.bridge.live.jack.helpers import BridgeProcess, DumpDawClient, private_port_names, unmatched_note_ons

pytestmark = pytest.mark.jack

PART_CHANNELS = {1, 2, 3}
PLAYER_CHANNELS = (0, 4, 9, 15)
PULSE = 60.0 / (120 * 24)


def random_message(rng: random.Random) -> list[int]:
    kind = rng.random()
    ch = rng.choice(PLAYER_CHANNELS)
    if kind < 0.35:  # notes, often unmatched or struck twice
        return [rng.choice((0x80, 0x90, 0x90)) | ch, rng.randrange(40, 100), rng.randrange(128)]
    if kind < 0.5:  # controls, Sideman's own CCs among them
        return [0xB0 | ch, rng.choice((1, 7, 21, 22, 23, 24, 25, 26, 64, 120, 123)), rng.randrange(128)]
    if kind < 0.6:
        return [rng.choice((0xA0, 0xE0)) | ch, rng.randrange(128), rng.randrange(128)]
    if kind < 0.65:
        return [rng.choice((0xC0, 0xD0)) | ch, rng.randrange(128)]
    if kind < 0.72:  # transport: Stop/Continue/Start without order, song position anywhere
        return rng.choice(([0xFA], [0xFB], [0xFC], [0xF2, rng.randrange(128), rng.randrange(128)]))
    if kind < 0.8:  # undefined and truncated status bytes, data bytes without status
        return rng.choice(([0xF4], [0xF5], [0xF9], [0xFD], [0x90], [0xE0, 1], [rng.randrange(128)], [rng.randrange(128), rng.randrange(128)]))
    if kind < 0.88:  # out-of-range data bytes
        return [rng.randrange(0x80, 0xF0), rng.randrange(128, 256), rng.randrange(256)]
    if kind < 0.94:  # SysEx, and too-long non-SysEx messages (rtmidi refuses those)
        return [0xF0, *(rng.randrange(128) for _ in range(rng.randrange(0, 12))), 0xF7]
    # Any bytes at all, but a status byte for a part channel moves to channel 1: a player on the
    # alto's channel is a configuration error, not bad input.
    return [b & 0xF0 if 0x80 <= b < 0xF0 and (b & 0x0F) in PART_CHANNELS else b for b in (rng.randrange(256) for _ in range(rng.randrange(1, 6)))]


def test_random_raw_messages_through_jack(tmp_path, jack_server):
    config = tmp_path / "sideman.toml"
    ports, port_in, port_out = private_port_names()
    config.write_text(f'[bridge]\nclock = "auto"\nthru = true\n[recording]\ndirectory = "{tmp_path / "sessions"}"\n'
                      f'[status]\nquiet = true\n{ports}')
    bridge = BridgeProcess("--config", str(config), "--model", str(DEFAULT_MODEL))
    daw = DumpDawClient(port_in, port_out)
    rng = random.Random(20240611)
    tried = refused = 0
    used_channels: set[int] = set()  # channels of every channel-message status byte sent
    got = []
    try:
        # Both connections are live only some cycles after JACK lists them: until a message makes the
        # round trip, the DAW could miss the start of the stream (and see a part's note-on without
        # the note-off before it).
        deadline = time.monotonic() + 10.0
        while not any(s.msg.type == "control_change" and s.msg.channel == 4 for s in daw.collect(timeout=0.05, quiet=0.05)):
            assert time.monotonic() < deadline, "the bridge never passed a message back"
            daw.out.send_message([0xB4, 7, 100])
        daw.out.send_message([0xFA])
        start = time.perf_counter()
        pulses = 0
        while tried < 3000:
            # The clock runs on its own absolute schedule; random messages fill the time between pulses.
            while time.perf_counter() - start >= pulses * PULSE:
                daw.out.send_message([0xF8])
                pulses += 1
            for _ in range(5):
                tried += 1
                data = random_message(rng)
                try:
                    daw.out.send_message(data)
                except (ValueError, TypeError, OverflowError):
                    refused += 1
                else:
                    used_channels |= {b & 0x0F for b in data if 0x80 <= b < 0xF0}
            got += [s.msg for s in daw.collect(timeout=0.004, quiet=0.004)]
        code, out, err = bridge.terminate(signal.SIGTERM)
        got += [s.msg for s in daw.collect(timeout=2.0)]
    finally:
        daw.close()
        if bridge.proc.poll() is None:
            bridge.terminate()
    print(f"fuzz through JACK: {tried} messages tried, {refused} refused by rtmidi, {pulses} clock pulses; "
          f"{next((line for line in out.splitlines() if line.startswith('Sideman stopped:')), 'no stop line')}; "
          f"{len(got)} messages back")
    assert code == 0 and "Traceback" not in err, err
    assert "Sideman stopped:" in out
    # At the DAW: output only on the part channels and the channels the player used, never a clock.
    # A part's notes are judged on the session file below (what the bridge sent, in its order): on a
    # busy non-realtime JACK server a client that misses a cycle can have a MIDI buffer dropped or
    # delivered twice, so the DAW may see a note-on twice or miss a note-off; those are counted here.
    sounding: dict[int, int | None] = {ch: None for ch in PART_CHANNELS}
    overlaps = 0
    for m in got:
        assert m.type not in ("clock", "start", "stop", "continue", "songpos"), m
        if hasattr(m, "channel"):
            assert m.channel in PART_CHANNELS | used_channels, m
            if m.channel in PART_CHANNELS:
                if is_note_on(m):
                    overlaps += sounding[m.channel] is not None
                    sounding[m.channel] = m.note
                elif is_note_off(m) and sounding[m.channel] == m.note:
                    sounding[m.channel] = None
    print(f"part note-ons that reached the DAW while another seemed to sound (JACK delivery): {overlaps}")
    # Every note ends: All Notes Off on every channel closes even notes whose note-off JACK dropped.
    assert unmatched_note_ons(got) == set()
    saved = mido.MidiFile(out.split("Session saved:")[1].strip().splitlines()[0])
    assert len(saved.tracks) >= 5
    # What the bridge sent, in its order: strictly one note at a time on each part's track.
    for track in saved.tracks[2:5]:
        on = None
        for m in track:
            if is_note_on(m):
                assert on is None, f"{track.name}: note-on {m.note} while {on} sounds"
                on = m.note
            elif is_note_off(m) and m.note == on:
                on = None
