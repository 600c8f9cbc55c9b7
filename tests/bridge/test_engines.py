"""The one road from config to engines: `run`, `accompany` and `demo` read the same settings, check models
the same way, and refuse the same values with the same one line."""

from __future__ import annotations

import json
import subprocess
import sys

import mido
import pytest

from sideman.bridge import engines
from sideman.bridge.cli import main
from sideman.bridge.config import Config, load_config
from sideman.bridge.errors import ConfigError, MidiFileError, ModelError
from sideman.bridge.offline import commands
from sideman.bridge.offline import render as offline
from tests.fakes import FAKE_CONTRACT, FakeStepModel
from tests.paths import REPO


def sideman(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sideman.bridge", *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sideman: error: "), proc.stderr
    return lines[0]


def test_every_engine_and_parts_key_reaches_the_engine_settings(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[engine]\nlead_policy = 'latest'\nearly_window_ms = 30\nlate_window_ms = 20\ntemperature = 1.3\n"
                    "top_p = 0.9\nforbid_parallels = false\nseed = 7\n[parts]\nchannels = [5, 6, 7]\nvelocity_scale = [1.0, 0.5, 0.25]\n"
                    "[bridge]\ninput_channel = 1\n")
    s = engines.engine_settings(load_config(path), FAKE_CONTRACT)
    assert (s.lead_policy, s.early_window, s.late_window, s.temperature, s.top_p, s.forbid_parallels, s.seed) == \
        ("latest", 0.030, 0.020, 1.3, 0.9, False, 7)
    assert s.part_channels == (4, 5, 6) and s.part_velocity_scale == (1.0, 0.5, 0.25) and s.input_channel == 0


def test_parts_mute_names_the_model_parts_that_start_muted(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[parts]\nmute = ["tenor", "alto"]\n')
    assert engines.engine_settings(load_config(path), FAKE_CONTRACT).muted_parts == (0, 1)
    assert engines.engine_settings(Config(), FAKE_CONTRACT).muted_parts == ()
    with pytest.raises(ConfigError, match=r"\[parts\] mute = \['chords'\]: the model has no part 'chords' \(its parts: alto, tenor, bass\)"):
        engines.engine_settings(Config().replace("parts", mute=("chords",)), FAKE_CONTRACT)


def test_a_part_channel_that_is_also_the_input_channel_is_refused():
    config = Config().replace("bridge", input_channel=3)
    with pytest.raises(ConfigError, match=r"\[bridge\] input_channel = 3: it is also a part channel"):
        engines.engine_settings(config, FAKE_CONTRACT)


def test_missing_default_model_is_a_model_error(tmp_path, monkeypatch):
    monkeypatch.setattr(engines, "DEFAULT_MODEL", tmp_path / "chorale-gru.onnx")
    with pytest.raises(ModelError, match="default model is not there yet"):
        engines.load_model(engines.DEFAULT_MODEL)
    with pytest.raises(ModelError, match="no such model file"):
        engines.load_model(tmp_path / "other.onnx")


def test_the_listener_key_chooses_the_ears_of_every_engine(tmp_path):
    from sideman.bridge.core.key_profiles import ProfileListener
    from sideman.bridge.listen.recogniser import Recogniser

    assert isinstance(engines.hearing_for("cnn", FAKE_CONTRACT)[0], Recogniser)
    assert isinstance(engines.hearing_for("profile", FAKE_CONTRACT)[0], ProfileListener)
    with pytest.raises(ConfigError, match=r"^\[engine\] listener = 'ears': expected one of 'cnn', 'profile'$"):
        engines.hearing_for("ears", FAKE_CONTRACT)
    path = tmp_path / "mine.toml"
    path.write_text('[engine]\nlistener = "crystal ball"\n')
    with pytest.raises(ConfigError, match=r"\[engine\] listener = 'crystal ball': expected one of 'cnn', 'profile'"):
        load_config(path)


def test_a_recogniser_that_hears_other_steps_than_the_model_plays_is_refused():
    from dataclasses import replace

    with pytest.raises(ConfigError, match=r'listener = "cnn": the recogniser hears 4 steps per beat and the model plays 2'):
        engines.hearing_for("cnn", replace(FAKE_CONTRACT, steps_per_beat=2))


@pytest.mark.parametrize("listener, kind", [("cnn", "Recogniser"), ("profile", "ProfileListener")])
def test_run_accompany_and_demo_hear_with_the_config_s_listener(tmp_path, monkeypatch, fake_loader, listener, kind):
    heard = []
    make_engine = offline.make_engine
    monkeypatch.setattr(offline, "make_engine", lambda model, settings, ear, tables: heard.append(type(ear).__name__) or
                        make_engine(model, settings, ear, tables))
    config = tmp_path / "mine.toml"
    config.write_text(f'[engine]\nlistener = "{listener}"\n')
    demo(tmp_path, "demo", "--config", str(config))
    assert main(["accompany", str(offline.DEMO_MELODY), "-o", str(tmp_path / "jam.mid"), "--config", str(config)]) == 0
    monkeypatch.setattr(engines, "load_model", lambda path: FakeStepModel())
    live = engines.build_engines(load_config(config), [tmp_path / "any.onnx"])
    assert heard == [kind, kind] and type(live[0]._hearing.listener).__name__ == kind


# -- accompany and demo read the config as run does ----------------------------------------------------

@pytest.fixture
def fake_loader(monkeypatch):
    monkeypatch.setattr(commands, "load_model", lambda path: FakeStepModel(hold_threshold=0.5))


def demo(tmp_path, name: str, *args: str) -> mido.MidiFile:
    out = tmp_path / name
    assert main(["demo", "--out-dir", str(out), "--no-wav", *args]) == 0  # the parts are what counts here
    return mido.MidiFile(out / "sideman-demo.mid")


def part_channels(midi: mido.MidiFile) -> list[set[int]]:
    return [{m.channel for m in track if m.type == "note_on"} for track in midi.tracks[2:]]


def part_notes(midi: mido.MidiFile) -> list[list[tuple[int, int]]]:
    return [[(m.note, m.time) for m in track if m.type == "note_on"] for track in midi.tracks[2:]]


def test_demo_plays_the_config_s_parts_and_seed_and_flags_override_it(tmp_path, fake_loader):
    config = tmp_path / "mine.toml"
    config.write_text("[engine]\nseed = 3\n[parts]\nchannels = [5, 6, 7]\n")
    from_config = demo(tmp_path, "config", "--config", str(config))
    assert part_channels(from_config) == [{4}, {5}, {6}]
    assert part_notes(from_config) == part_notes(demo(tmp_path, "flag", "--seed", "3"))
    assert part_notes(from_config) != part_notes(demo(tmp_path, "seed0"))  # the seed matters to this fake
    overridden = demo(tmp_path, "override", "--config", str(config), "--seed", "0")
    assert part_channels(overridden) == [{4}, {5}, {6}] and part_notes(overridden) == part_notes(demo(tmp_path, "seed0b"))


def test_accompany_reads_the_config_too(tmp_path, fake_loader):
    config = tmp_path / "mine.toml"
    config.write_text("[parts]\nchannels = [9, 10, 11]\n")
    out = tmp_path / "jam.mid"
    assert main(["accompany", str(offline.DEMO_MELODY), "-o", str(out), "--config", str(config)]) == 0
    assert part_channels(mido.MidiFile(out)) == [{8}, {9}, {10}]


@pytest.mark.parametrize("args, expected", [
    (["demo", "--seed", "-1"], "[engine] seed = -1: expected a value from 0 to 2147483647"),
    (["demo", "--temperature", "9"], "[engine] temperature = 9.0: expected a value from 0.05 to 5.0"),
    (["accompany", str(offline.DEMO_MELODY), "-o", "x.mid", "--tempo", "350"], "[bridge] tempo = 350.0: expected a value from 20.0 to 300.0"),
    (["run", "--tempo", "350"], "[bridge] tempo = 350.0: expected a value from 20.0 to 300.0"),
])
def test_offline_flags_have_the_live_limits(tmp_path, monkeypatch, fake_loader, capsys, args, expected):
    monkeypatch.chdir(tmp_path)  # where demo and accompany would write
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err


def test_a_melody_file_s_own_tempo_has_the_live_limits_too():
    from tests.bridge.offline.test_render import melody_file

    with pytest.raises(MidiFileError, match=r"tempo 350.0 BPM is outside 20..300"):
        offline.render(melody_file([(0, 480, 72)], bpm=350), FakeStepModel(), engines.engine_settings(Config(), FAKE_CONTRACT))


def test_duplicate_part_channels_are_one_line_for_run_and_demo(tmp_path):
    config = tmp_path / "dup.toml"
    config.write_text("[parts]\nchannels = [2, 2, 4]\n")
    for command in (["run"], ["demo", "--out-dir", str(tmp_path)]):
        line = one_line_error(sideman(*command, "--config", str(config)))
        assert line.endswith(f"{config}: [parts] channels = [2, 2, 4]: expected distinct values (2 given more than once)"), line


# -- a model the live clock cannot follow is refused by every command -----------------------------------

def model_with_steps_per_beat(path, steps_per_beat: int):
    onnx = pytest.importorskip("onnx")
    from sideman.bridge.model.contract import METADATA_KEY

    model = onnx.load(str(engines.DEFAULT_MODEL))
    prop = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    prop.value = json.dumps(json.loads(prop.value) | {"steps_per_beat": steps_per_beat})
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("steps_per_beat", [5, 48])
def test_a_model_whose_steps_miss_the_midi_clock_is_refused_by_run_accompany_and_demo(tmp_path, steps_per_beat):
    model = model_with_steps_per_beat(tmp_path / f"spb{steps_per_beat}.onnx", steps_per_beat)
    expected = f"sideman: error: {model}: steps_per_beat = {steps_per_beat}: a model must take one of 1, 2, 3, 4, 6, 8, 12, 24 steps per beat"
    lines = {one_line_error(sideman(*command, "--model", str(model))).split(", so that")[0]
             for command in (["run", "--no-record"], ["demo", "--out-dir", str(tmp_path)],
                             ["accompany", str(offline.DEMO_MELODY), "-o", str(tmp_path / "jam.mid")])}
    assert lines == {expected}
    assert not list(tmp_path.glob("*.mid")) and not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_with_no_listening_first_every_part_answers_a_single_held_note_within_two_beats(seed):
    """The shipped model and the config's ears: one note tells no key, and that must not silence the parts."""
    config = Config().replace("engine", listen_beats=0, seed=seed)
    engine = engines.build_engines(config, engines.model_paths(config))[0]
    engine.handle(mido.Message("note_on", note=72, velocity=90), 0.0)
    played = set()
    for step in range(8):
        played.update(m.channel for m in engine.tick(step, step * 0.125, 0.125, 4) if m.type == "note_on" and m.velocity)
    assert played == set(c - 1 for c in config.parts.channels), played
