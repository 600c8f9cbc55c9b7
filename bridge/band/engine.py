"""The band engine: bass and comping from a bar pattern, pitched on the chord heard. The Engine's interface.

Patterns are decoded when the style changes (construction, the knob, the temperature): for each meter a few
variations around the knob's latent, so a tick never runs the network, it only picks the bar's pattern (at the
bar's first step), reads the current cell and pitches it on the current chord. With a variation generator
(bridge/band/variation.py) the next bar's pattern is proposed at the bar's last beat from the chord, the bar playing
and the knob's latent, by `prepare_next_bar()` (which the live loop calls after a tick's output is sent); the decoded
pattern is the fallback when the generator fails or proposes an empty bar. The chord is decided on beats
(bridge/band/chords.py); when it changes mid-bar every sounding note whose chord tone moved is re-struck at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import mido
import numpy as np

from sideman.bridge.band.chords import ChordFollower
from sideman.bridge.band.grid import CELLS, CELLS_PER_BEAT, N_BASS, ONSET, SLOTS, SOUND, binarise, chord_of, pitch_in, slot_pitch_class
from sideman.bridge.band.style import slerp
from sideman.bridge.core.engine import StepInfo
from sideman.bridge.core.listening import HeardNow

ALL_NOTES_OFF = 123
# Intervals (semitones, mod 12) a band note may not form with the tune note sounding: seconds, tritone, sevenths;
# the bass also avoids the fourth below the tune (it sounds as a dissonance over the bass).
CLASHES = frozenset((1, 2, 6, 10, 11))
BASS_CLASHES = CLASHES | {5}
PARTS = ("bass", "comping")
log = logging.getLogger(__name__)


def density_threshold(density: float) -> float:
    """The probability a cell must pass to sound or start: 0.9 at density 0, 0.5 at 0.5, 0.1 at 1 (never every cell,
    never none, whatever the decoder says)."""
    return 0.9 - 0.8 * density


def restrike_beats(density: float) -> int | None:
    """Above the middle density a held note is struck again at least every this many beats (None: as decoded), so a
    busier band is busier even where the decoder is sure of a held chord."""
    return None if density <= 0.5 else 2 if density <= 0.75 else 1


def restrike(grid: np.ndarray, every_beats: int | None) -> np.ndarray:
    """`grid` with a start on each `every_beats`-th beat wherever a slot sounds there (a copy; None: unchanged)."""
    if every_beats is None:
        return grid
    out = grid.copy()
    cells = np.arange(0, CELLS, every_beats * CELLS_PER_BEAT)
    out[cells, :, ONSET] |= out[cells, :, SOUND]
    return out


class PatternDecoder(Protocol):
    latent: int
    anchors: dict[str, np.ndarray]
    contract: object

    def decode(self, z: np.ndarray, meter: np.ndarray) -> np.ndarray: ...


class VariationGenerator(Protocol):
    noise: int

    def propose(self, previous: np.ndarray, chord: int, beats: int, style: np.ndarray, noise: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class BandSettings:
    part_channels: tuple[int, int] = (1, 2)  # 0-based: bass, comping
    input_channel: int | None = None  # 0-based; None = omni
    bass_range: tuple[int, int] = (36, 55)
    comp_range: tuple[int, int] = (52, 67)
    anchors: tuple[str, str] = ("sustained", "walking")
    knob: float = 0.0
    density: float = 0.5  # 0 sparse .. 1 busy: how likely a cell must be to sound or start (0.5: the decoder's own odds)
    variations: int = 4  # patterns per meter the bars choose from
    spread: float = 0.5  # latent distance of the variations, times the temperature
    temperature: float = 0.7
    chord_source: str = "tune"
    split_point: int = 60
    chord_channel: int | None = None  # 0-based, for chord_source "channel"
    part_velocity_scale: tuple[float, float] = (0.85, 0.65)
    seed: int = 0
    muted_parts: tuple[int, ...] = ()
    avoid_clashes: bool = True  # the tune note is a fact: a comping note clashing with it rests, the bass moves

    def validate(self, anchors: dict[str, np.ndarray]) -> None:
        """Raise ValueError naming the first bad field."""
        if len(self.part_channels) != 2 or len(set(self.part_channels)) != 2 or not all(0 <= c <= 15 for c in self.part_channels):
            raise ValueError(f"part_channels must be two distinct 0-based channels, got {self.part_channels}")
        if self.input_channel is not None and self.input_channel in self.part_channels:
            raise ValueError("the input channel is also a band channel")
        for name, (lo, hi) in (("bass_range", self.bass_range), ("comp_range", self.comp_range)):
            if not 0 <= lo and hi <= 127 and hi - lo >= 11:
                raise ValueError(f"{name} must span at least an octave inside 0..127, got {lo}..{hi}")
        unknown = [a for a in self.anchors if a not in anchors]
        if len(self.anchors) != 2 or unknown:
            raise ValueError(f"anchors must be two of {', '.join(anchors)}, got {list(self.anchors)}")
        if not 0.0 <= self.density <= 1.0:
            raise ValueError(f"density must be in 0..1, got {self.density}")
        if not 0.0 <= self.knob <= 1.0 or self.variations < 1 or self.temperature <= 0 or self.spread < 0:
            raise ValueError("knob must be in 0..1, variations >= 1, temperature > 0, spread >= 0")
        if not all(0 <= k < 2 for k in self.muted_parts):
            raise ValueError(f"muted_parts must be 0 (bass) or 1 (comping), got {self.muted_parts}")


class BandEngine:
    def __init__(self, decoder: PatternDecoder, settings: BandSettings, variation: VariationGenerator | None = None) -> None:
        settings.validate(decoder.anchors)
        self.decoder = decoder
        self.variation = variation
        self.variation_failures = 0
        self._variation_noise = np.random.default_rng(settings.seed + 2)
        self.settings = settings
        self.contract = decoder.contract
        self.fault: str | None = None
        self.reanswer_count = 0
        self.revoiced_count = 0
        self.step_count = 0
        self._rng = np.random.default_rng(settings.seed)
        self._noise = np.random.default_rng(settings.seed + 1).standard_normal((settings.variations, decoder.latent))
        self._noise[0] = 0.0  # the first variation is the knob's own pattern
        self._knob = settings.knob
        self._density = settings.density
        self._probs = np.zeros((0, 0), np.float32)  # the decoder's last answer: 3/4 rows, then 4/4 rows
        self._temperature = settings.temperature
        self._chords = ChordFollower(settings.chord_source, settings.split_point, settings.chord_channel)
        self._enabled = True
        self._muted = [k in settings.muted_parts for k in range(2)]
        self._velocity = 80
        self._tune: dict[int, int] = {}  # (channel * 128 + note) -> note, the tune's keys held
        self._sounding: list[dict[int, int]] = [{}, {}]  # part -> slot -> pitch sounding
        self._patterns: dict[int, np.ndarray] = {}  # beats (3 or 4) -> [variations, CELLS, SLOTS, 2]
        self._decode()
        self._forget()

    # -- decided ahead, outside the ticks ------------------------------------------------------------
    def _decode(self) -> None:
        """Every pattern the bars may use, for the knob and temperature now (the only network call)."""
        a, b = (self.decoder.anchors[name] for name in self.settings.anchors)
        centre = slerp(a, b, self._knob)
        self._centre = centre
        z = (centre[None, :] + self.settings.spread * self._temperature * self._noise).astype(np.float32)
        n = len(z)
        z2 = np.concatenate([z, z]).astype(np.float32)
        meter = np.concatenate([np.ones((n, 1)), np.zeros((n, 1))]).astype(np.float32)
        self._probs = self.decoder.decode(z2, meter)
        self._binarise()

    def _binarise(self) -> None:
        """The playable patterns from the decoder's last answer at the density now (no network call)."""
        n = len(self._probs) // 2
        threshold, every = density_threshold(self._density), restrike_beats(self._density)
        self._patterns = {3: np.stack([restrike(binarise(p, 3, threshold), every) for p in self._probs[:n]]),
                          4: np.stack([restrike(binarise(p, 4, threshold), every) for p in self._probs[n:]])}

    @property
    def knob(self) -> float:
        return self._knob

    def set_knob(self, value: float) -> None:
        """The style knob 0..1 (anchor a .. anchor b); bars from the next one on play the new patterns."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"the style knob must be in 0..1, got {value}")
        self._knob = float(value)
        self._decode()

    @property
    def density(self) -> float:
        return self._density

    def set_density(self, value: float) -> None:
        """0 sparse .. 1 busy; bars from the next one on play the patterns at the new density."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"the density must be in 0..1, got {value}")
        self._density = float(value)
        self._binarise()

    def set_temperature(self, value: float) -> None:
        """How far the bars' variations stray from the knob's pattern."""
        if not value > 0.0:
            raise ValueError(f"temperature must be > 0, got {value}")
        self._temperature = float(value)
        self._decode()

    # -- state ------------------------------------------------------------------------------------------
    def _forget(self) -> None:
        self._bar: np.ndarray | None = None
        self._bar_start = 0
        self._due: int | None = None  # the meter of the next bar to prepare
        self._next: tuple[int, np.ndarray] | None = None  # (meter, pattern) of the next bar, decided ahead
        self._step = -1
        self._bass_prev: int | None = None
        self._chords.reset()

    def handle(self, msg: mido.Message, t: float) -> list[mido.Message]:
        """One input message: the notes heard decide the chord (and the velocity); nothing is sent."""
        if msg.type not in ("note_on", "note_off"):
            return []
        listens = self.settings.input_channel is None or msg.channel == self.settings.input_channel
        counts_anyway = self._chords.source == "channel" and msg.channel == self._chords.channel
        if not (listens or counts_anyway):
            return []
        if msg.type == "note_on" and msg.velocity > 0:
            self._velocity = msg.velocity
            self._chords.note_on(msg.note, msg.channel)
            if listens and not self._chords_only(msg.note, msg.channel):
                self._tune[msg.channel * 128 + msg.note] = msg.note
        else:
            self._chords.note_off(msg.note, msg.channel)
            self._tune.pop(msg.channel * 128 + msg.note, None)
        return []

    def tick(self, step: int, t: float, step_seconds: float, beats_per_bar: int = 4) -> list[mido.Message]:
        """Play grid step `step` (16ths since song start): read the bar's pattern, pitch its cell on the chord."""
        self.step_count += 1
        self._step = step
        beats = max(1, beats_per_bar)
        bar_steps = beats * CELLS_PER_BEAT
        cell = step % bar_steps
        if cell == 0 or self._bar is None:
            self._bar = self._next_bar(beats)
        self._chords.tick(step % CELLS_PER_BEAT == 0)
        if self.variation is not None and cell == bar_steps - CELLS_PER_BEAT:
            self._due = beats  # the last beat decides the next bar
        chord = self._chords.chord
        if chord is None or not self._enabled:
            return self._release_all()
        return self._play(self._bar[cell % CELLS], chord)

    def _pick(self, beats: int) -> np.ndarray:
        bank = self._patterns[3 if beats == 3 else 4]
        return bank[int(self._rng.integers(len(bank)))]

    def _next_bar(self, beats: int) -> np.ndarray:
        """The pattern of a bar starting now: the one decided ahead if it fits the meter, else a decoded one."""
        if self._due is not None:
            self.prepare_next_bar()
        ready, self._next = self._next, None
        if ready is not None and ready[0] == beats:
            return ready[1]
        return self._pick(beats)

    def prepare_next_bar(self) -> None:
        """Decide the next bar's pattern if it is due: the generator's proposal after the bar playing, under the chord
        now and the knob's latent; the decoded pattern if there is no chord, the proposal is empty or anything fails.
        Draws the same random numbers whether it runs after the last beat's tick or at the next bar's first."""
        if self._due is None:
            return
        beats, self._due = self._due, None
        fallback = self._pick(beats)
        noise = self._variation_noise.standard_normal(self.variation.noise).astype(np.float32)
        chord = self._chords.chord
        if chord is None or self._bar is None:
            self._next = (beats, fallback)
            return
        try:
            grid = np.asarray(self.variation.propose(self._bar, chord, beats, self._centre, noise))
        except Exception as exc:  # noqa: BLE001 - a failing generator leaves the decoded pattern, never a crash
            if not self.variation_failures:
                log.warning("band variation failed (%s: %s); the decoded patterns play", type(exc).__name__, exc)
            self.variation_failures += 1
            grid = fallback
        if grid.shape != fallback.shape or not grid[..., SOUND].any():
            grid = fallback  # an empty or misshapen bar is no variation
        self._next = (beats, grid)

    def _chords_only(self, note: int, channel: int) -> bool:
        """A key that gives the chord and is not the tune (below the split point, or on the chord channel)."""
        source = self._chords.source
        return self._chords.counts(note, channel) if source in ("split", "channel") else False

    def _clashes(self, pitch: int, part: int, tune: int | None) -> bool:
        if tune is None or not self.settings.avoid_clashes:
            return False
        return (tune - pitch) % 12 in (BASS_CLASHES if part == 0 else CLASHES)

    def _play(self, cell: np.ndarray, chord: int) -> list[mido.Message]:
        root, quality = chord_of(chord)
        tune = max(self._tune.values()) if self._tune else None
        out: list[mido.Message] = []
        for part in range(2):
            slots = range(N_BASS) if part == 0 else range(N_BASS, SLOTS)
            want: dict[int, tuple[int, bool]] = {}
            taken: set[int] = set()
            for slot in slots:
                if not cell[slot, SOUND]:
                    continue
                pitch = self._pitch(part, slot, root, quality)
                if self._clashes(pitch, part, tune):
                    if part == 1:
                        continue
                    # The bass moves to the first chord tone (root, fifth, third) that does not clash, else the root.
                    options = [self._pitch(0, s, root, quality) for s in (0, 2, 1)]
                    pitch = next((p for p in options if not self._clashes(p, 0, tune)), options[0])
                if pitch in taken:
                    continue  # a doubled chord tone is one key
                taken.add(pitch)
                want[slot] = (pitch, bool(cell[slot, ONSET]))
            out.extend(self._apply(part, want))
        return out

    def _pitch(self, part: int, slot: int, root: int, quality: str) -> int:
        if part == 0:
            lo, hi = self.settings.bass_range
            near = self._bass_prev if self._bass_prev is not None else (lo + hi) // 2
            return pitch_in(slot_pitch_class(slot, root, quality), lo, hi, near)
        lo, hi = self.settings.comp_range
        return pitch_in(slot_pitch_class(slot - N_BASS, root, quality), lo, hi, (lo + hi) // 2)

    def _apply(self, part: int, want: dict[int, tuple[int, bool]]) -> list[mido.Message]:
        """Note-offs for what should stop or move (a new chord re-pitches a held note), then note-ons."""
        channel = self.settings.part_channels[part]
        sounding = self._sounding[part]
        offs, ons = [], []
        for slot, pitch in list(sounding.items()):
            new = want.get(slot)
            if new is None or new[0] != pitch or new[1]:
                offs.append(mido.Message("note_off", channel=channel, note=pitch, velocity=0))
                del sounding[slot]
        if not self._muted[part]:
            scale = self.settings.part_velocity_scale[part]
            velocity = min(127, max(1, int(round(self._velocity * scale))))
            busy = set(sounding.values())
            for slot, (pitch, _) in want.items():
                if slot not in sounding and pitch not in busy:
                    ons.append(mido.Message("note_on", channel=channel, note=pitch, velocity=velocity))
                    sounding[slot] = pitch
                    busy.add(pitch)
                    if part == 0:
                        self._bass_prev = pitch
        return offs + ons

    def _release_all(self, parts: tuple[int, ...] = (0, 1)) -> list[mido.Message]:
        out = []
        for part in parts:
            channel = self.settings.part_channels[part]
            out.extend(mido.Message("note_off", channel=channel, note=p, velocity=0) for p in self._sounding[part].values())
            self._sounding[part].clear()
        return out

    # -- the Engine's controls ----------------------------------------------------------------------------
    @property
    def last_step(self) -> StepInfo | None:
        if self._step < 0:
            return None
        tokens = tuple(min(s.values()) if s else -1 for s in self._sounding)
        return StepInfo(self._step, -1, -1, tokens, 0)

    @property
    def sounding(self) -> dict[int, int]:
        """Part index -> its lowest pitch sounding now."""
        return {k: min(s.values()) for k, s in enumerate(self._sounding) if s}

    @property
    def chord(self) -> int | None:
        return self._chords.chord

    @property
    def heard(self) -> HeardNow:
        """The chord the band plays on (the band keeps to chords, not to a key); key_locked: the chord is held."""
        chord = self._chords.chord
        return HeardNow(None, 0.0, chord, 0.0 if chord is None else 1.0, self._chords.held)

    def freeze_key(self, on: bool) -> None:
        """The band's key freeze holds the chord heard now (on) until released (off): it has no key to keep."""
        self._chords.hold(on)

    @property
    def temperature(self) -> float:
        return self._temperature

    @property
    def enabled(self) -> bool:
        return self._enabled

    def muted(self, part: int) -> bool:
        return self._muted[part]

    def set_enabled(self, enabled: bool) -> list[mido.Message]:
        self._enabled = bool(enabled)
        return [] if enabled else self._release_all()

    def set_muted(self, part: int, muted: bool) -> list[mido.Message]:
        if not 0 <= part < 2:
            raise ValueError(f"no part {part} (the band has bass 0 and comping 1)")
        self._muted[part] = bool(muted)
        return self._release_all((part,)) if muted else []

    def panic(self) -> list[mido.Message]:
        """Note-offs for everything and All Notes Off on both band channels; forget the keys held."""
        out = self._release_all()
        self._chords.reset()
        self._tune.clear()
        return out + [mido.Message("control_change", channel=c, control=ALL_NOTES_OFF, value=0)
                      for c in self.settings.part_channels]

    def stop(self) -> list[mido.Message]:
        return self._release_all()

    def reset(self) -> None:
        """Back to the start of a song: no chord, no bar (sends nothing; a part still sounding ends at the next tick)."""
        self._forget()
