"""`sideman ports` and `sideman run`'s port errors on a real JACK server."""

from __future__ import annotations

import subprocess
import sys


from tests.paths import REPO


def test_port_not_found_is_one_line_listing_what_exists(jack_server):
    proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "run", "--api", "jack", "--no-engine", "--no-record", "--in", "No Such Keyboard 9000"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sideman: error: no MIDI input port matches 'No Such Keyboard 9000' (available:")
    assert "Traceback" not in proc.stderr


def test_ports_lists_jack_ports(jack_server):
    proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "ports", "--api", "jack"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0 and "MIDI API: jack" in proc.stdout


def test_the_longest_client_name_sideman_allows_is_the_longest_jack_takes(jack_server):
    import rtmidi

    from sideman.bridge.live.jack.names import longest_client_name

    limit = longest_client_name()
    assert limit is not None
    for length, opens in ((limit, True), (limit + 1, False)):
        try:
            port = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="y" * length)
        except rtmidi.SystemError:
            assert not opens, length
        else:
            port.delete()
            assert opens, length


def test_a_client_name_jack_refuses_is_one_line(jack_server, tmp_path):
    from sideman.bridge.live.jack.names import longest_client_name

    room = longest_client_name() - len("-in")
    outcomes = []
    for name in ("x" * room, "x" * (room + 1)):
        config = tmp_path / "long.toml"
        config.write_text(f'[ports]\nclient_name = "{name}"\nconnect_input = "No Such Port 9000"\n')
        proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "run", "--api", "jack", "--no-engine", "--no-record",
                               "--config", str(config)], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
        outcomes.append(proc.stderr)
    # At the limit the name opens (and the made-up input is what fails); one byte more, the name is refused.
    assert outcomes[0].startswith("sideman: error: no MIDI input port matches 'No Such Port 9000'"), outcomes[0]
    assert outcomes[1] == (f"sideman: error: [ports] client_name = '{'x' * (room + 1)}': too long for JACK, which takes client "
                           f"names of up to {room + 3} bytes, and Sideman's input is the client '{'x' * (room + 1)}-in'; "
                           f"give at most {room} bytes\n")
