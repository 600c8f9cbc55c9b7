"""`--style band` and a prompt's band through the one road: accompany plays bass and comping; bad settings are one line
and exit 2."""

from __future__ import annotations

import mido
import pytest

from sideman.bridge.band.engine import BandEngine
from sideman.bridge.cli import main, run_prompt
from sideman.bridge.config import Config
from sideman.bridge.engines import band_settings, build_engines, model_paths, style_parts
from sideman.bridge.errors import ConfigError


def tune(path, notes=(67, 71, 74, 72, 71, 69, 67, 62)):
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    for n in notes:
        track += [mido.Message("note_on", note=n, velocity=80), mido.Message("note_off", note=n, time=480)]
    mid.save(path)


def test_accompany_band_plays_bass_and_comping(tmp_path):
    tune(tmp_path / "t.mid")
    assert main(["accompany", str(tmp_path / "t.mid"), "-o", str(tmp_path / "j.mid"), "--style", "band", "--style-knob", "0.5"]) == 0
    jam = mido.MidiFile(tmp_path / "j.mid")
    names = {t.name: sum(m.type == "note_on" and m.velocity > 0 for m in t) for t in jam.tracks}
    assert names.get("bass", 0) > 0 and names.get("comping", 0) > 0


def test_a_knob_out_of_range_is_one_line(tmp_path, capsys):
    tune(tmp_path / "t.mid")
    assert main(["accompany", str(tmp_path / "t.mid"), "-o", str(tmp_path / "j.mid"), "--style", "band", "--style-knob", "1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sideman: error: <flags>: [band] knob = 1.5: expected a value from 0.0 to 1.0"]


def test_an_unknown_style_is_refused(tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["accompany", str(tmp_path / "t.mid"), "-o", str(tmp_path / "j.mid"), "--style", "jazz"])
    assert exit_.value.code == 2


def test_band_config_validation():
    with pytest.raises(ConfigError, match="anchors"):
        band_settings(Config().replace("band", anchors=("sustained", "bebop")), ["sustained", "walking"])
    with pytest.raises(ConfigError, match="input_channel"):
        band_settings(Config().replace("bridge", input_channel=2), ["sustained", "walking"])
    with pytest.raises(ConfigError, match="click_channel"):
        band_settings(Config().replace("bridge", metronome=True, click_channel=3), ["sustained", "walking"])
    with pytest.raises(ConfigError, match="keeps to no key"):
        band_settings(Config().replace("engine", key="D"), ["sustained", "walking"])
    with pytest.raises(ConfigError, match="octave"):
        Config().replace("band", bass_range=(40, 45))
    with pytest.raises(ConfigError, match="style_knob"):
        Config().replace("controls", style_knob=26)
    with pytest.raises(ConfigError, match="style_knob"):
        Config().replace("controls", style_knob=Config().controls.metronome)


def test_run_style_band_puts_the_band_first():
    config = Config().replace("engine", style="band")
    engines = build_engines(config, model_paths(config))
    assert isinstance(engines[0], BandEngine) and len(engines) == 2


def test_accompany_prompt_band_plays_the_band_with_the_prompt_settings(tmp_path, capsys):
    tune(tmp_path / "t.mid")
    args = ["accompany", str(tmp_path / "t.mid"), "-o", str(tmp_path / "j.mid"), "--prompt", "folk band, busy, just bass"]
    assert main(args) == 0
    assert "prompt: style band, density 0.8, parts bass (comping muted)" in capsys.readouterr().out
    jam = mido.MidiFile(tmp_path / "j.mid")
    names = {t.name: sum(m.type == "note_on" and m.velocity > 0 for m in t) for t in jam.tracks}
    assert names.get("bass", 0) > 0 and "comping" not in names and "alto" not in names


def test_a_style_flag_wins_over_the_prompt(tmp_path, capsys):
    tune(tmp_path / "t.mid")
    args = ["accompany", str(tmp_path / "t.mid"), "-o", str(tmp_path / "j.mid"), "--style", "chorale", "--prompt", "band"]
    assert main(args) == 0
    assert "prompt: style band not used: the flag given wins" in capsys.readouterr().out
    assert "alto" in {t.name for t in mido.MidiFile(tmp_path / "j.mid").tracks}


def test_run_prompt_band_builds_the_band_first_and_its_mute_spares_the_chorale():
    config = Config()
    chorale = build_engines(config, model_paths(config))[0].contract.part_names
    config = run_prompt(config, "band, no chords", style_parts(chorale))
    engines = build_engines(config, model_paths(config))
    assert isinstance(engines[0], BandEngine) and engines[0].muted(1) and not engines[0].muted(0)
    assert not any(engines[1].muted(k) for k in range(len(chorale)))
