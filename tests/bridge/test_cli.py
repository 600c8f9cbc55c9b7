"""The CLI: help lists every command, user errors are one line with exit code 2."""

from __future__ import annotations


import json
import sys

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


@pytest.mark.parametrize("argv", [["train", "--quick"], ["data"], ["evaluate"], ["export", "model.pt", "-o", "model.onnx"]])
def test_the_training_commands_without_the_train_extras_are_one_line_naming_the_install(argv, tmp_path, monkeypatch, capsys):
    fresh = [n for n in sys.modules if n.startswith(("sideman.models", "sideman.export"))]  # imported afresh below
    for name in fresh:
        parent, _, leaf = name.rpartition(".")
        monkeypatch.setattr(sys.modules[parent], leaf, sys.modules[name], raising=False)  # the import rebinds these
    for name in fresh:
        monkeypatch.delitem(sys.modules, name)
    for name in ("torch", "music21", "onnx", "onnxscript", "tqdm"):
        monkeypatch.setitem(sys.modules, name, None)  # what `pip install sideman` leaves out
    monkeypatch.setenv("SIDEMAN_CACHE", str(tmp_path))  # no dataset cache to read instead of music21
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"sideman: error: `sideman {argv[0]}` needs ")
    assert err.endswith(", one of the training extras: pip install 'sideman[train]'\n"), err


def test_prompt_prints_one_json_object_with_every_setting(capsys):
    assert main(["prompt", "slow sad waltz in D minor, just bass and chords", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {"tempo": 72, "meter": "3/4", "key": "D minor", "mode": "minor", "style": "band",
                               "style_knob": None, "density": 0.4, "register": None, "temperature": None,
                               "parts": ["bass", "chords"], "not_understood": []}


def test_prompt_without_json_is_a_readable_summary_naming_what_it_did_not_understand(capsys):
    assert main(["prompt", "fast", "waltz,", "no", "tenor,", "with", "drums"]) == 0
    assert capsys.readouterr().out.splitlines() == ["tempo: 138 BPM", "meter: 3/4", "parts: alto, bass",
                                                    "not understood: drums"]
