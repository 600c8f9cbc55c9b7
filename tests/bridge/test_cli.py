"""The CLI: help lists every command, user errors are one line with exit code 2."""

from __future__ import annotations


import pytest

from sideman.bridge.cli import main



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
