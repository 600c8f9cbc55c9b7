"""The user's own config file: where it is, what every command reads from it, in which order, and how
`sideman run --learn` rewrites its [controls] table without touching the rest."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sideman.bridge.cli import build_parser, config_from_args
from sideman.bridge.config import ControlsConfig, key_sources, load_config, save_user_section, section_values, user_config_path
from sideman.bridge.errors import ConfigError


@pytest.fixture
def config_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def write_user_file(config_home: Path, text: str) -> Path:
    path = config_home / "sideman" / "sideman.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_user_file_is_under_xdg_config_home_else_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_config_path() == tmp_path / "xdg" / "sideman" / "sideman.toml"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset in ("", "relative/path"):  # the XDG rule: an empty or relative value is ignored
        monkeypatch.setenv("XDG_CONFIG_HOME", unset)
        assert user_config_path() == tmp_path / "home" / ".config" / "sideman" / "sideman.toml"


def test_defaults_then_the_user_file_then_config_then_flags(config_home, tmp_path):
    user = write_user_file(config_home, '[bridge]\ntempo = 90\nclock = "midi"\nthru = true\n[controls]\npanic = 40\n')
    given = tmp_path / "given.toml"
    given.write_text('[bridge]\ntempo = 110\nclock = "internal"\n[controls]\ntemperature = 31\n')
    parser, _ = build_parser(["run"])

    def config(*argv):
        return config_from_args(parser.parse_args(["run", *argv]))

    alone = config()
    assert (alone.bridge.tempo, alone.bridge.clock, alone.bridge.thru, alone.controls.panic) == (90.0, "midi", True, 40)
    layered = config("--config", str(given))
    assert (layered.bridge.tempo, layered.bridge.clock, layered.bridge.thru) == (110.0, "internal", True)
    assert (layered.controls.temperature, layered.controls.panic, layered.controls.accompaniment) == (31, 40, 22)
    flagged = config("--config", str(given), "--tempo", "130")
    assert (flagged.bridge.tempo, flagged.bridge.clock) == (130.0, "internal")
    assert flagged.bridge.beats_per_bar == 4  # named nowhere: the default
    assert key_sources("controls", given) == {"temperature": str(given), "accompaniment": "defaults",
                                              "mute_parts": "defaults", "key_freeze": "defaults", "panic": str(user),
                                              "metronome": "defaults", "answer_mode": "defaults", "answer_now": "defaults",
                                              "style_knob": "defaults"}


@pytest.mark.parametrize("argv", [["ports"], ["demo"], ["accompany", "tune.mid", "-o", "jam.mid"], ["recover"]])
def test_every_command_reads_the_user_file(config_home, argv):
    write_user_file(config_home, '[bridge]\ntempo = 77\n[recording]\ndirectory = "/elsewhere"\n')
    parser, _ = build_parser(argv)
    args = parser.parse_args(argv)
    if argv[0] in ("demo", "accompany"):
        from sideman.bridge.offline.commands import _config

        assert _config(args).bridge.tempo == 77.0
    elif argv[0] == "recover":
        assert load_config(args.config).recording.directory == "/elsewhere"  # what cmd_recover reads
    else:
        assert config_from_args(args).bridge.tempo == 77.0


def test_a_bad_user_file_names_itself(config_home, tmp_path, capsys):
    from sideman.bridge.cli import main

    path = write_user_file(config_home, "[bridge]\ntempo = 1000\n")
    assert main(["ports"]) == 2
    assert capsys.readouterr().err == f"sideman: error: {path}: [bridge] tempo = 1000: expected a value from 20.0 to 300.0\n"


USER_TEXT = '''# my own settings
[bridge]
tempo = 90  # slow
[controls]
# old knobs
temperature = 1
mute_parts = [
  2, 3, 4,
]

[audio]
part_programs = [1, 2, 3]
'''


def test_saving_the_controls_rewrites_that_table_only(config_home):
    path = write_user_file(config_home, USER_TEXT)
    learnt = ControlsConfig(temperature=30, accompaniment=31, mute_parts=(32, 33, 34), panic=-1)
    assert save_user_section("controls", section_values(learnt)) == path
    text = path.read_text()
    assert text.startswith("# my own settings\n[bridge]\ntempo = 90  # slow\n[controls]\n")
    assert text.endswith("\n[audio]\npart_programs = [1, 2, 3]\n")
    doc = tomllib.loads(text)
    assert doc["bridge"] == {"tempo": 90} and doc["audio"] == {"part_programs": [1, 2, 3]}
    assert load_config().controls == learnt


def test_saving_creates_the_file_and_its_folder_or_adds_the_table(config_home):
    learnt = ControlsConfig(panic=50)
    path = save_user_section("controls", section_values(learnt))
    assert path == config_home / "sideman" / "sideman.toml" and load_config().controls == learnt
    path.write_text('[bridge]\nthru = true')  # no newline at the end
    save_user_section("controls", section_values(learnt))
    assert load_config().controls == learnt and load_config().bridge.thru is True


@pytest.mark.parametrize("text", ["controls.panic = 3\n", "controls = { panic = 3 }\n", "[bridge\n"])
def test_a_file_it_cannot_rewrite_is_left_alone_and_named(config_home, text):
    path = write_user_file(config_home, text)
    with pytest.raises(ConfigError) as err:
        save_user_section("controls", section_values(ControlsConfig()))
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
    assert path.read_text() == text


def test_an_unwritable_place_is_one_line(config_home):
    config_home.parent.mkdir(parents=True, exist_ok=True)
    config_home.write_text("a file where the config folder should be")
    with pytest.raises(ConfigError, match="cannot write the user config file"):
        save_user_section("controls", section_values(ControlsConfig()))
