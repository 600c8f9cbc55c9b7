"""The CLI: help lists every command, user errors are one line with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sideman.bridge.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in ("ports", "run", "accompany", "demo", "train", "export", "evaluate"):
        assert name in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_port_not_found_is_one_line_listing_what_exists(jack_server):
    proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "run", "--api", "jack", "--no-engine", "--no-record", "--in", "No Such Keyboard 9000"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sideman: error: no MIDI input port matches 'No Such Keyboard 9000' (available:")
    assert "Traceback" not in proc.stderr


def test_ports_lists_jack_ports(jack_server):
    proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "ports", "--api", "jack"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0 and "MIDI API: jack" in proc.stdout
