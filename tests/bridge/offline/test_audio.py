"""Audio: the WAV measured (length, loudness, onsets), the programs FluidSynth plays, and missing FluidSynth as one line.

Tests that run FluidSynth skip without it, except under CI=true, where scripts/setup.sh installs it.
"""

from __future__ import annotations

import os
import stat
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from sideman.bridge.cli import main
from sideman.bridge.config import AudioConfig, Config
from sideman.bridge.errors import AudioError, ConfigError, MissingDependencyError
from sideman.bridge.offline import audio
from sideman.bridge.offline import commands
from sideman.bridge.offline import render as offline
from tests.fakes import FakeStepModel

INSTALL = "apt-get install fluidsynth fluid-soundfont-gm"
RMS_FLOOR = 0.02  # -34 dBFS: music, far above FluidSynth's silence
ONSET_DB = 12.0  # a struck note rises tens of dB; a sounding one wavers by a few


@pytest.fixture
def synth() -> audio.Synth:
    try:
        return audio.find_synth(AudioConfig())
    except MissingDependencyError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {exc}: scripts/setup.sh must install them")
        pytest.skip(str(exc))


@pytest.fixture
def fake_loader(monkeypatch):
    monkeypatch.setattr(commands, "load_model", lambda path: FakeStepModel(hold_threshold=0.5))


@pytest.fixture
def no_fluidsynth(monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)


def notes_file(starts: list[float], channel: int = 0, seconds: float = 0.5, bpm: float = 120.0) -> mido.MidiFile:
    """One track of notes (C, E, G#, ...) starting at `starts` seconds, each `seconds` long."""
    tpb = 480
    ticks = lambda s: round(s * bpm / 60 * tpb)  # noqa: E731
    track, now = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))]), 0
    for i, start in enumerate(starts):
        on, off = ticks(start), ticks(start + seconds)
        track.append(mido.Message("note_on", channel=channel, note=60 + 4 * i, velocity=90, time=on - now))
        track.append(mido.Message("note_off", channel=channel, note=60 + 4 * i, velocity=0, time=off - on))
        now = off
    return mido.MidiFile(type=1, ticks_per_beat=tpb, tracks=[track])


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono samples in -1..1 and the sample rate; the file must be 16-bit stereo."""
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (2, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
        return frames.astype(np.float64).mean(axis=1) / 32768, w.getframerate()


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2)))


def onsets(x: np.ndarray, rate: int, hop_s: float = 0.005, gap_s: float = 0.1) -> list[float]:
    """Where the energy envelope rises by ONSET_DB within 20 ms (levels below -60 dBFS count as -60); one time per burst."""
    hop, back = round(rate * hop_s), 4
    envelope = np.sqrt(np.add.reduceat(x ** 2, np.arange(0, len(x), hop)) / hop)
    level = 20 * np.log10(np.maximum(envelope, 1e-3))
    rise = level - np.concatenate([np.full(back, -60.0), level[:-back]])
    times = np.flatnonzero(rise > ONSET_DB) * hop_s
    return [float(t) for i, t in enumerate(times) if i == 0 or t - times[i - 1] > gap_s]


# -- with FluidSynth ----------------------------------------------------------------------------------

def test_demo_wav_lasts_as_long_as_its_midi_and_is_not_silent(tmp_path, synth, fake_loader, capsys):
    assert main(["demo", "--out-dir", str(tmp_path)]) == 0
    wav = tmp_path / "sideman-demo.wav"
    assert f"wrote {wav}" in capsys.readouterr().out
    x, rate = read_wav(wav)
    midi_seconds = mido.MidiFile(tmp_path / "sideman-demo.mid").length
    assert rate == audio.SAMPLE_RATE and midi_seconds > 20
    assert midi_seconds <= len(x) / rate <= midi_seconds + 1.5  # the release tail
    assert rms(x) > RMS_FLOOR


@pytest.mark.parametrize("channel", [0, 3], ids=["tune's piano", "bass's cello"])
def test_the_wav_s_onsets_are_where_the_notes_start(tmp_path, synth, channel):
    starts = [0.25, 1.25, 2.25, 3.25]
    audio.write_wav(notes_file(starts, channel=channel), (1, 2, 3), tmp_path / "four.wav", AudioConfig(), synth)
    x, rate = read_wav(tmp_path / "four.wav")
    found = onsets(x, rate)
    assert len(found) == len(starts) and all(abs(f - s) <= 0.05 for f, s in zip(found, starts)), found
    assert rms(x) > RMS_FLOOR / 4  # one note at a time, with rests


def test_accompany_wav_renders_the_jam_and_leaves_its_midi_without_program_changes(tmp_path, synth, fake_loader, capsys):
    src, out, wav = tmp_path / "tune.mid", tmp_path / "jam.mid", tmp_path / "sub" / "jam.wav"
    notes_file([i * 0.5 for i in range(8)], seconds=0.45).save(src)
    assert main(["accompany", str(src), "-o", str(out), "--wav", str(wav)]) == 0
    assert f"wrote {wav}" in capsys.readouterr().out
    jam = mido.MidiFile(out)
    assert not [m for t in jam.tracks for m in t if m.type == "program_change"]
    x, rate = read_wav(wav)
    assert jam.length <= len(x) / rate <= jam.length + 1.5 and rms(x) > RMS_FLOOR


def test_a_file_that_is_not_a_soundfont_is_one_line(tmp_path, synth, capsys):
    junk = tmp_path / "junk.sf2"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    config = tmp_path / "c.toml"
    config.write_text(f'[audio]\nsoundfont = "{junk}"\n')
    src = tmp_path / "tune.mid"
    notes_file([0.0]).save(src)
    assert main(["accompany", str(src), "-o", str(tmp_path / "jam.mid"), "--wav", str(tmp_path / "jam.wav"), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err == f"sideman: error: {junk}: not a SoundFont (.sf2) file; set [audio] soundfont to one\n"


# -- without FluidSynth -------------------------------------------------------------------------------

def test_accompany_wav_without_fluidsynth_is_one_line_before_any_work(tmp_path, no_fluidsynth, capsys):
    src = tmp_path / "tune.mid"
    notes_file([0.0, 1.0]).save(src)
    assert main(["accompany", str(src), "-o", str(tmp_path / "jam.mid"), "--wav", str(tmp_path / "jam.wav")]) == 2
    out, err = capsys.readouterr()
    assert err == f"sideman: error: FluidSynth is not installed: {INSTALL}\n" and out == ""
    assert not (tmp_path / "jam.mid").exists() and not (tmp_path / "jam.wav").exists()


def test_demo_without_fluidsynth_writes_the_midi_and_says_why_there_is_no_wav(tmp_path, no_fluidsynth, fake_loader, capsys):
    assert main(["demo", "--out-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "sideman-demo.mid").is_file() and not (tmp_path / "sideman-demo.wav").exists()
    assert f"sideman-demo.wav not made: FluidSynth is not installed: {INSTALL}" in out.splitlines() and err == ""


def test_no_soundfont_anywhere_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: "/usr/bin/fluidsynth")
    monkeypatch.setattr(audio, "SOUNDFONTS", ())
    with pytest.raises(MissingDependencyError, match=f"no General MIDI SoundFont found: {INSTALL}, or set \\[audio\\] soundfont"):
        audio.find_synth(AudioConfig())
    with pytest.raises(ConfigError, match=r"\[audio\] soundfont = '/nowhere/gm.sf2': file not found"):
        audio.find_synth(AudioConfig(soundfont="/nowhere/gm.sf2"))


def fake_fluidsynth(tmp_path: Path, body: str) -> audio.Synth:
    """A stand-in executable that writes some audio to its -F file, then runs `body`; and a file with a SoundFont's header."""
    program = tmp_path / "fluidsynth"
    writes_audio = 'while [ $# -gt 0 ]; do [ "$1" = -F ] && printf "\\0\\0\\0\\0\\0\\0\\0\\0" > "$2"; shift; done'
    program.write_text("#!/bin/sh\n" + writes_audio + "\n" + body + "\n")
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    soundfont = tmp_path / "gm.sf2"
    soundfont.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    return audio.Synth(str(program), soundfont)


@pytest.mark.parametrize("body, why", [
    ("exit 3", "fluidsynth exited with code 3 and no audio"),
    ("true", None),
    ("echo \"fluidsynth: error: Failed to open audio file 'x' for writing\" >&2", "fluidsynth: error: Failed to open audio file 'x' for writing"),
])
def test_fluidsynth_failing_is_an_audio_error_naming_its_reason(tmp_path, body, why):
    synth = fake_fluidsynth(tmp_path, body)
    if why is None:  # the stand-in itself works: one silent frame, then the release
        assert audio.render_wav(notes_file([0.0]), tmp_path / "out.wav", synth) == 1 / audio.SAMPLE_RATE
        return
    with pytest.raises(AudioError) as err:
        audio.render_wav(notes_file([0.0]), tmp_path / "out.wav", synth)
    assert str(err.value) == f"out.wav not rendered: {why}" and not (tmp_path / "out.wav").exists()


# -- the programs and the finishing, without FluidSynth -----------------------------------------------

def test_each_channel_gets_its_program_first_in_its_first_track_unless_the_file_chose_one():
    tune = notes_file([0.0, 0.5])
    own = notes_file([0.0], channel=5)
    own.tracks[0].insert(1, mido.Message("program_change", channel=5, program=24))
    parts = [notes_file([0.0], channel=ch).tracks[0] for ch in (1, 2, 3)]
    drums = notes_file([0.0], channel=9).tracks[0]
    midi = mido.MidiFile(type=1, ticks_per_beat=480, tracks=[tune.tracks[0], own.tracks[0], *parts, drums])
    programs = audio.programs(midi, (1, 2, 3), AudioConfig(melody_program=73, part_programs=(52, 48)))
    assert programs == {0: 73, 1: 52, 2: 48, 3: 48}  # the file's own channel 6 and drums keep theirs; extra parts reuse the last
    copy = audio.with_programs(midi, programs)
    firsts = [t[0] for t in copy.tracks]
    assert [(m.channel, m.program, m.time) for m in firsts if m.type == "program_change"] == [(0, 73, 0), (1, 52, 0), (2, 48, 0), (3, 48, 0)]
    assert [list(t[1:]) for t in copy.tracks[:1] + copy.tracks[2:5]] == [list(t) for t in midi.tracks[:1] + midi.tracks[2:5]]
    assert copy.tracks[1] == midi.tracks[1] and copy.tracks[5] == midi.tracks[5]
    assert not [m for t in midi.tracks for m in t if m.type == "program_change" and m.channel != 5]  # the original is untouched


def test_finish_cuts_after_the_release_fades_out_and_scales_the_peak():
    rate = audio.SAMPLE_RATE
    loud = np.full((10 * rate, 2), 0.05, dtype=np.float32)
    pcm = audio.finish(loud, 2.0)
    assert len(pcm) == round((2.0 + audio.RELEASE_SECONDS) * rate)
    assert int(pcm.max()) == round(audio.PEAK * 32767) and pcm[-1].tolist() == [0, 0]
    hiss = np.full((rate, 2), 1e-5, dtype=np.float32)
    assert int(audio.finish(hiss, 0.5).max()) == round(1e-5 * audio.MAX_GAIN * 32767)  # noise is not made loud
    assert not audio.finish(np.zeros((rate, 2), dtype=np.float32), 0.5).any()


def test_audio_defaults():
    a = Config().audio
    assert (a.soundfont, a.melody_program, a.part_programs) == ("", 0, (52, 48, 42))
    assert len(a.part_programs) == len(Config().parts.channels)  # one program per default part
