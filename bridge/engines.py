"""The one road from config to engines, for `sideman run`, `sideman accompany` and `sideman demo`.

Which model files, how each is checked, and the EngineSettings a config gives a model: the live
session and the offline renderer both come through here, so a setting means the same thing in both.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from sideman.bridge.band.engine import BandEngine, BandSettings
from sideman.bridge.config import Config
from sideman.bridge.core.clock import PULSES_PER_QUARTER
from sideman.bridge.core.engine import Engine, EngineSettings
from sideman.bridge.core.harmony import HarmonyStrengths
from sideman.bridge.core.key_profiles import ProfileListener, pitch_class_tables
from sideman.bridge.core.listening import Listener, PitchClassTables
from sideman.bridge.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from sideman.bridge.band.decoder import OnnxPatternDecoder
    from sideman.bridge.band.variation import VaryingDecoder
    from sideman.bridge.model.contract import Contract
    from sideman.bridge.model.runtime import OnnxStepModel

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_MODEL = ASSETS / "chorale-gru.onnx"
DEFAULT_BAND_MODEL = ASSETS / "band-vae.onnx"
DEFAULT_BAND_VARIATION = ASSETS / "band-gan.onnx"
# Steps per beat a model may use: the MIDI clock's pulses must fall evenly on its steps.
STEPS_PER_BEAT = tuple(n for n in range(1, PULSES_PER_QUARTER + 1) if PULSES_PER_QUARTER % n == 0)


def model_paths(config: Config, flags: Sequence[str] | None = None) -> list[Path]:
    """The model files to load: every --model flag, else the config's model, else the shipped default."""
    if flags:
        return [Path(p).expanduser() for p in flags]
    return [Path(config.bridge.model).expanduser() if config.bridge.model else DEFAULT_MODEL]


def load_model(path: Path) -> OnnxStepModel:
    """The ONNX model at `path`, checked against its contract and against what the bridge can play
    (ModelError, naming the file, if it is missing, broken or unplayable)."""
    from sideman.bridge.model.runtime import OnnxStepModel

    if path == DEFAULT_MODEL and not path.is_file():
        raise ModelError(f"{path}: the default model is not there yet; train and export one "
                         f"(sideman train && sideman export) or pass --model PATH")
    model = OnnxStepModel.load(path)
    spb = model.contract.steps_per_beat
    if spb not in STEPS_PER_BEAT:
        raise ModelError(f"{path}: steps_per_beat = {spb}: a model must take one of {', '.join(map(str, STEPS_PER_BEAT))} "
                         f"steps per beat, so that the {PULSES_PER_QUARTER} MIDI clock pulses of a beat fall on its steps")
    return model


def suggested_channels(contract: Contract) -> tuple[int, ...]:
    """0-based channels from the model's suggestions (1-based), else 2, 3, 4, ... (channel 1 is the lead's)."""
    suggested = [p.channel - 1 for p in contract.parts]
    if all(0 <= c <= 15 for c in suggested) and len(set(suggested)) == len(suggested):
        return tuple(suggested)
    return tuple(range(1, len(contract.parts) + 1))


def engine_settings(config: Config, contract: Contract) -> EngineSettings:
    """EngineSettings for a model from [engine], [parts] and [bridge] input_channel (ConfigError if they
    cannot fit it). A model whose part count differs from [parts] channels uses its own suggested
    channels if [parts] channels was left at its default."""
    n_parts = len(contract.parts)
    channels = tuple(c - 1 for c in config.parts.channels)
    scales = config.parts.velocity_scale
    if len(channels) != n_parts:
        if config.parts.channels != Config().parts.channels:
            raise ConfigError(f"[parts] channels = {list(config.parts.channels)}: the model has {n_parts} parts; give one channel per part")
        channels = suggested_channels(contract)
    if len(scales) != n_parts:
        scales = (scales + (scales[-1],) * n_parts)[:n_parts]
    names = contract.part_names
    unknown = [name for name in config.parts.mute if name not in names]
    if unknown:
        raise ConfigError(f"[parts] mute = {list(config.parts.mute)}: the model has no part {unknown[0]!r} (its parts: {', '.join(names)})")
    listen = config.bridge.input_channel
    if listen and listen - 1 in channels:
        raise ConfigError(f"[bridge] input_channel = {listen}: it is also a part channel; choose distinct channels")
    e = config.engine
    return EngineSettings(
        part_channels=channels,
        input_channel=None if listen == 0 else listen - 1,
        lead_policy=e.lead_policy,
        early_window=e.early_window_ms / 1000.0,
        late_window=e.late_window_ms / 1000.0,
        temperature=e.temperature,
        top_p=e.top_p,
        forbid_parallels=e.forbid_parallels,
        part_velocity_scale=tuple(scales),
        seed=e.seed,
        muted_parts=tuple(k for k, name in enumerate(names) if name in config.parts.mute),
        harmony=HarmonyStrengths(key=e.key_strength, chord=e.chord_strength, clash=e.clash_strength),
        listen_beats=e.listen_beats,
    )


def build_engines(config: Config, paths: Sequence[Path]) -> list[Engine | BandEngine]:
    """Load every model (ModelError on a bad file) and build one engine per model; [engine] style = "band" puts the
    band first (Program Change 2.. then selects the models)."""
    engines: list[Engine | BandEngine] = []
    if config.engine.style == "band" and paths:
        decoder = load_band_decoder(config)
        engines.append(make_engine(decoder, band_settings(config, list(decoder.anchors))))
    for path in paths:
        model = load_model(path)
        engines.append(Engine(model, engine_settings(config, model.contract), *hearing_for(model.contract)))
    return engines


def load_band_decoder(config: Config) -> OnnxPatternDecoder | VaryingDecoder:
    """The band's pattern decoder: [band] model, else the shipped one; with [band] variation, joined by the variation
    generator ([band] variation_model, else the shipped one). ModelError naming a bad file."""
    from sideman.bridge.band.decoder import OnnxPatternDecoder
    from sideman.bridge.band.variation import OnnxVariationGenerator, VaryingDecoder

    b = config.band
    decoder = OnnxPatternDecoder.load(Path(b.model).expanduser() if b.model else DEFAULT_BAND_MODEL)
    if not b.variation:
        return decoder
    path = Path(b.variation_model).expanduser() if b.variation_model else DEFAULT_BAND_VARIATION
    return VaryingDecoder(decoder, OnnxVariationGenerator.load(path))


def band_settings(config: Config, anchors: Sequence[str]) -> BandSettings:
    """BandSettings from [band], [engine] and [bridge] input_channel (ConfigError if they cannot fit the decoder,
    whose style anchors are `anchors`)."""
    b, e = config.band, config.engine
    unknown = [a for a in b.anchors if a not in anchors]
    if unknown:
        raise ConfigError(f"[band] anchors = {list(b.anchors)}: no style {unknown[0]!r} (the model has: {', '.join(anchors)})")
    channels = tuple(c - 1 for c in b.channels)
    listen = config.bridge.input_channel
    if listen and listen - 1 in channels:
        raise ConfigError(f"[bridge] input_channel = {listen}: it is also a band channel; choose distinct channels")
    unknown = [name for name in config.parts.mute if name not in ("bass", "comping")]
    if unknown:
        raise ConfigError(f"[parts] mute = {list(config.parts.mute)}: the band has no part {unknown[0]!r} (its parts: bass, comping)")
    return BandSettings(
        part_channels=channels, input_channel=None if listen == 0 else listen - 1,
        bass_range=tuple(b.bass_range), comp_range=tuple(b.comp_range), anchors=tuple(b.anchors), knob=b.knob,
        variations=b.variations, temperature=e.temperature, chord_source=b.chords, split_point=b.split_point,
        chord_channel=b.chord_channel - 1, part_velocity_scale=tuple(b.velocity_scale), seed=e.seed,
        muted_parts=tuple(k for k, name in enumerate(("bass", "comping")) if name in config.parts.mute),
        avoid_clashes=b.avoid_clashes)


def make_engine(model, settings, listener=None, tables=None) -> Engine | BandEngine:
    """The engine for a model and its settings: the band's for BandSettings, else the chorale's."""
    if isinstance(settings, BandSettings):
        return BandEngine(model, settings, getattr(model, "variation", None))
    return Engine(model, settings, listener, tables)


def hearing_for(contract: Contract) -> tuple[Listener, PitchClassTables]:
    """The key/chord listener an engine hears with, and the pitch classes of its classes."""
    return ProfileListener(contract.steps_per_beat), pitch_class_tables()
