"""Config: defaults match config.toml, every kind of bad value is one line naming file, key, value, allowed."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from sideman.bridge.cli import main
from sideman.bridge.config import Config, config_to_toml_values, load_config
from sideman.bridge.errors import ConfigError
from tests.paths import REPO



def test_config_toml_documents_exactly_the_built_in_defaults():
    with open(REPO / "config.toml", "rb") as f:
        assert tomllib.load(f) == config_to_toml_values(Config())


def test_user_file_overlays_only_what_it_names(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[bridge]\ntempo = 132\n[parts]\nchannels = [5, 6, 7]\n')
    config = load_config(path)
    assert config.bridge.tempo == 132.0 and config.parts.channels == (5, 6, 7)
    assert config.bridge.thru is False and config.ports.input_name == "Sideman In"


@pytest.mark.parametrize(
    "toml, expected",
    [
        ('[ports]\napi = "midi-over-carrier-pigeon"', "[ports] api = 'midi-over-carrier-pigeon': expected one of 'auto', 'alsa'"),
        ("[bridge]\ntempo = 1000", "[bridge] tempo = 1000: expected a value from 20.0 to 300.0"),
        ('[bridge]\ntempo = "fast"', "[bridge] tempo = 'fast': expected a number"),
        ("[bridge]\nthru = 1", "[bridge] thru = 1: expected true or false"),
        ("[parts]\nchannels = [2, 17]", "[parts] channels = [2, 17]: expected a non-empty list of values from 1 to 16"),
        ("[parts]\nchannels = 2", "[parts] channels = 2: expected a list of int"),
        ("[bridge]\ntempp = 120", "[bridge] tempp: unknown key"),
        ("[sound]\nvolume = 11", "unknown section [sound]"),
        ("[bridge\ntempo = 120", "not valid TOML"),
        ("[parts]\nchannels = [2, 2, 4, 4]", "[parts] channels = [2, 2, 4, 4]: expected distinct values (2 and 4 given more than once)"),
        ('[ports]\noutput_name = ""', "[ports] output_name = '': expected a name, not an empty string"),
        ('[ports]\nclient_name = " "', "[ports] client_name = ' ': expected a name, not an empty string"),
        ("[controls]\ntemperature = 21\npanic = 21", "[controls] temperature = 21 and panic = 21: one CC number for two controls"),
        ("[audio]\npart_programs = [52, 128]", "[audio] part_programs = [52, 128]: expected a non-empty list of values from 0 to 127"),
        ("[audio]\nmelody_program = -1", "[audio] melody_program = -1: expected a value from 0 to 127"),
        ("[controls]\nmute_parts = [23, 22, -1]", "[controls] accompaniment = 22 and mute_parts #2 = 22: one CC number for two controls"),
        ('[bridge]\nclock = "folow"', "[bridge] clock = 'folow': expected one of 'auto', 'midi', 'internal', 'follow'"),
        ("[bridge]\nclick_channel = 17", "[bridge] click_channel = 17: expected a value from 1 to 16"),
        ("[bridge]\nmetronome = 1", "[bridge] metronome = 1: expected true or false"),
        ("[controls]\nmetronome = 26", "[controls] panic = 26 and metronome = 26: one CC number for two controls"),
    ],
)
def test_bad_values_name_file_key_value_and_what_is_allowed(tmp_path, toml, expected):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_cli_bad_config_is_one_line_exit_2_no_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[engine]\ntemperature = -3\n")
    proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "run", "--config", str(path)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{path}: [engine] temperature = -3: expected a value from 0.05 to 5.0" in proc.stderr


def test_flags_override_the_file(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text("[bridge]\nthru = false\n")
    from sideman.bridge.cli import build_parser, config_from_args

    parser, _ = build_parser(["run"])
    args = parser.parse_args(["run", "--config", str(path), "--thru", "--api", "jack", "--in", "loopMIDI"])
    config = config_from_args(args)
    assert config.bridge.thru is True and config.ports.api == "jack" and config.ports.connect_input == "loopMIDI"




def test_disabled_controls_may_share_minus_one(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[controls]\ntemperature = -1\npanic = -1\nmute_parts = [-1, -1, 30]\n")
    assert load_config(path).controls.panic == -1


def test_a_log_file_in_a_missing_folder_is_one_line(tmp_path, capsys):
    log_file = tmp_path / "no" / "such" / "folder" / "sideman.log"
    assert main(["run", "--log-file", str(log_file)]) == 2
    err = capsys.readouterr().err
    assert err == f"sideman: error: [status] log_file = '{log_file}': cannot write there (No such file or directory)\n"


def test_clock_follow_metronome_and_count_in_from_the_file_and_the_flags(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[bridge]\nclock = "follow"\ncount_in = true\nclick_note = 76\n')
    from sideman.bridge.cli import build_parser, config_from_args

    parser, _ = build_parser(["run"])
    config = config_from_args(parser.parse_args(["run", "--config", str(path), "--metronome", "--no-count-in"]))
    b = config.bridge
    assert (b.clock, b.metronome, b.count_in, b.click_channel, b.click_note) == ("follow", True, False, 10, 76)
    assert config_from_args(parser.parse_args(["run", "--clock", "follow"])).bridge.clock == "follow"


def test_a_click_on_a_part_channel_is_one_line(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text("[bridge]\nmetronome = true\nclick_channel = 3\n")
    assert main(["run", "--config", str(path), "--no-record"]) == 2
    err = capsys.readouterr().err
    assert err == "sideman: error: [bridge] click_channel = 3: it is also a part channel; choose distinct channels\n"
