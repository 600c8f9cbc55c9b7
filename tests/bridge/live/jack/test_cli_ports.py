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
