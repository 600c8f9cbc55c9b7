"""Audio: an accompanied MIDI file rendered to a WAV through the FluidSynth command line and a General MIDI SoundFont.

FluidSynth plays a copy of the MIDI with a Program Change at the start of each channel ([audio] in the
config); the file Sideman writes keeps none of them, so a DAW's own instruments are never overridden.
FluidSynth writes raw float samples, so nothing clips on the way; this module cuts FluidSynth's long
near-silent tail to a fixed release, fades it out, scales the peak to PEAK and writes 16-bit PCM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from sideman.bridge.config import AudioConfig
from sideman.bridge.errors import AudioError, ConfigError, MissingDependencyError
from sideman.bridge.midi import PERCUSSION_CHANNEL

INSTALL_HINT = "apt-get install fluidsynth fluid-soundfont-gm"
# Where packages put a General MIDI SoundFont: Debian/Ubuntu, Fedora, Arch, Homebrew, the user's own.
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "~/.local/share/soundfonts/default.sf2",
)
SAMPLE_RATE = 44100
CHANNELS = 2  # FluidSynth renders stereo
RELEASE_SECONDS = 1.0  # kept after the MIDI's last event: the last notes' release and reverb
FADE_SECONDS = 0.25  # the end of that release fades to zero, so the cut never clicks
PEAK = 0.89  # -1 dBFS
MAX_GAIN = 30.0  # a near-silent render stays near silent instead of becoming loud noise


@dataclass(frozen=True)
class Synth:
    program: str  # the fluidsynth executable
    soundfont: Path


def find_synth(config: AudioConfig) -> Synth:
    """FluidSynth and the SoundFont to use; MissingDependencyError (how to install them) or ConfigError."""
    program = shutil.which("fluidsynth")
    if program is None:
        raise MissingDependencyError(f"FluidSynth is not installed: {INSTALL_HINT}")
    if config.soundfont:
        soundfont = Path(config.soundfont).expanduser()
        if not soundfont.is_file():
            raise ConfigError(f"[audio] soundfont = {config.soundfont!r}: file not found")
    else:
        soundfont = next((p for p in (Path(s).expanduser() for s in SOUNDFONTS) if p.is_file()), None)
        if soundfont is None:
            raise MissingDependencyError(f"no General MIDI SoundFont found: {INSTALL_HINT}, or set [audio] soundfont")
    if not _is_soundfont(soundfont):
        raise ConfigError(f"{soundfont}: not a SoundFont (.sf2) file; set [audio] soundfont to one")
    return Synth(program, soundfont)


def _is_soundfont(path: Path) -> bool:
    """FluidSynth renders silence from a file it cannot load, so the file's RIFF 'sfbk' header is checked first."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[:4] == b"RIFF" and head[8:12] == b"sfbk"


def programs(midi: mido.MidiFile, part_channels: tuple[int, ...], config: AudioConfig) -> dict[int, int]:
    """0-based channel -> GM program for every channel `midi` plays without a Program Change of its own
    (drums excepted): the parts' programs on their channels, the melody's on every other."""
    used = {m.channel for t in midi.tracks for m in t if hasattr(m, "channel")}
    chosen = {m.channel for t in midi.tracks for m in t if m.type == "program_change"}
    parts = config.part_programs
    wanted = {ch: parts[min(i, len(parts) - 1)] for i, ch in enumerate(part_channels)}
    return {ch: wanted.get(ch, config.melody_program) for ch in sorted(used - chosen - {PERCUSSION_CHANNEL})}


def with_programs(midi: mido.MidiFile, programs: dict[int, int]) -> mido.MidiFile:
    """A copy of `midi` with each Program Change first in the first track that uses its channel."""
    copy = mido.MidiFile(type=midi.type, ticks_per_beat=midi.ticks_per_beat, tracks=[mido.MidiTrack(t) for t in midi.tracks])
    for channel, program in programs.items():
        track = next(t for t in copy.tracks if any(getattr(m, "channel", None) == channel for m in t))
        track.insert(0, mido.Message("program_change", channel=channel, program=program, time=0))
    return copy


def render_wav(midi: mido.MidiFile, path: str | os.PathLike[str], synth: Synth) -> float:
    """Render `midi` as it is to a 16-bit stereo WAV at `path`; returns its length in seconds (AudioError if
    FluidSynth fails or the file cannot be written)."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="sideman-audio-") as tmp:
        mid, raw = Path(tmp) / "play.mid", Path(tmp) / "play.raw"
        midi.save(os.fspath(mid))
        cmd = [synth.program, "-n", "-i", "-q", "-T", "raw", "-O", "float", "-E", "little", "-r", str(SAMPLE_RATE),
               "-F", os.fspath(raw), os.fspath(synth.soundfont), os.fspath(mid)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise AudioError(f"{path.name} not rendered: cannot run {synth.program} ({exc.strerror or exc})") from None
        # FluidSynth exits 0 after some failures (a file it cannot load or write): its error lines tell.
        errors = [line.strip() for line in (done.stderr + done.stdout).splitlines() if "error" in line.lower()]
        if done.returncode or errors or not raw.is_file() or raw.stat().st_size == 0:
            why = errors[0] if errors else f"fluidsynth exited with code {done.returncode} and no audio"
            raise AudioError(f"{path.name} not rendered: {why}")
        samples = np.fromfile(raw, dtype="<f4")
    pcm = finish(samples[: len(samples) // CHANNELS * CHANNELS].reshape(-1, CHANNELS), midi.length)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(os.fspath(path), "wb") as w:
            w.setnchannels(CHANNELS)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm.tobytes())
    except OSError as exc:
        raise AudioError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return len(pcm) / SAMPLE_RATE


def finish(frames: np.ndarray, midi_seconds: float) -> np.ndarray:
    """Float frames -> 16-bit PCM: cut at the MIDI's end plus RELEASE_SECONDS, the last FADE_SECONDS faded out,
    the peak scaled to PEAK (by at most MAX_GAIN)."""
    n = min(len(frames), round((midi_seconds + RELEASE_SECONDS) * SAMPLE_RATE))
    out = frames[:n].astype(np.float64)
    fade = min(n, round(FADE_SECONDS * SAMPLE_RATE))
    if fade:
        out[n - fade:] *= np.linspace(1.0, 0.0, fade)[:, None]
    peak = float(np.abs(out).max()) if n else 0.0
    if peak > 0:
        out *= min(PEAK / peak, MAX_GAIN)
    return np.round(np.clip(out, -1.0, 1.0) * 32767).astype("<i2")


def write_wav(midi: mido.MidiFile, part_channels: tuple[int, ...], path: str | os.PathLike[str], config: AudioConfig,
              synth: Synth | None = None) -> str:
    """Render what `sideman accompany` made (its parts on `part_channels`), one GM program per channel;
    returns the line that says so."""
    synth = synth or find_synth(config)
    seconds = render_wav(with_programs(midi, programs(midi, part_channels, config)), path, synth)
    return f"wrote {path}  ({seconds:.1f} s of audio, {synth.soundfont.name})"


def demo_wav(midi: mido.MidiFile, part_channels: tuple[int, ...], path: Path, config: AudioConfig) -> str:
    """write_wav's line, or one line saying why no WAV was made: the demo's MIDI stands without it."""
    try:
        return write_wav(midi, part_channels, path, config)
    except (MissingDependencyError, AudioError) as exc:
        return f"{path.name} not made: {exc}"
