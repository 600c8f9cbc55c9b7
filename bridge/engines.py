"""The one road from config to engines, for `sideman run`, `sideman accompany` and `sideman demo`.

Which model files, how each is checked, and the EngineSettings a config gives a model: the live
session and the offline renderer both come through here, so a setting means the same thing in both.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from sideman.bridge.band.decoder import BandContract
from sideman.bridge.band.engine import BandEngine, BandSettings
from sideman.bridge.config import LISTENER_CHOICES, Config
from sideman.bridge.core.clock import PULSES_PER_QUARTER
from sideman.bridge.core.ahead import AheadEngine
from sideman.bridge.core.engine import Engine, EngineSettings
from sideman.bridge.core.harmony import HarmonyStrengths
from sideman.bridge.core.key_profiles import ProfileListener, parse_key, pitch_class_tables
from sideman.bridge.core.listening import Listener, PitchClassTables
from sideman.bridge.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from sideman.bridge.core.answer import Answerer
    from sideman.bridge.band.decoder import OnnxPatternDecoder
    from sideman.bridge.band.variation import VaryingDecoder
    from sideman.bridge.model.contract import Contract
    from sideman.bridge.model.runtime import OnnxStepModel

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_MODEL = ASSETS / "chorale-gru.onnx"
DEFAULT_BAND_MODEL = ASSETS / "band-vae.onnx"
BAND_PARTS = BandContract().part_names
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


def refuse_shared_channels(config: Config, channels: Sequence[int], what: str) -> None:
    """ConfigError if the channel Sideman listens to, or the metronome's, is one of `channels` (0-based), `what` them."""
    listen = config.bridge.input_channel
    if listen and listen - 1 in channels:
        raise ConfigError(f"[bridge] input_channel = {listen}: it is also {what}; choose distinct channels")
    click = config.bridge.click_channel
    if (config.bridge.metronome or config.bridge.count_in) and click - 1 in channels:
        raise ConfigError(f"[bridge] click_channel = {click}: it is also {what}; choose distinct channels")


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
    refuse_shared_channels(config, channels, "a part channel")
    listen = config.bridge.input_channel
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
        key_settle_beats=e.key_settle_beats,
        key_close=e.key_close,
        key_lock=locked_key(e.key),
    )


def build_engines(config: Config, paths: Sequence[Path]) -> list[AheadEngine | BandEngine]:
    """Load every model (ModelError on a bad file) and build one engine per model, each chorale engine able to
    answer a step ahead of its tick (the live loop asks it to; anything else drives it as a plain Engine);
    [engine] style = "band" puts the band first (Program Change 2.. then selects the models)."""
    engines: list[AheadEngine | BandEngine] = []
    if config.engine.style == "band" and paths:
        decoder = load_band_decoder(config)
        engines.append(make_engine(decoder, band_settings(config, list(decoder.anchors))))
        config = config.replace("parts", mute=())  # [parts] mute names the band's parts then
    for path in paths:
        model = load_model(path)
        engines.append(AheadEngine(model, engine_settings(config, model.contract),
                                   *hearing_for(config.engine.listener, model.contract)))
    return engines


def locked_key(text: str) -> int | None:
    """[engine] key as a key class; None when empty (ConfigError if it names no key)."""
    if not text.strip():
        return None
    key = parse_key(text)
    if key is None:
        raise ConfigError(f"[engine] key = {text!r}: expected a key such as \"D\", \"D major\", \"e minor\", \"F# minor\" or \"Bb\"")
    return key


def hearing_for(listener: str, contract: Contract) -> tuple[Listener, PitchClassTables]:
    """The key/chord listener an engine hears with ([engine] listener: "cnn", the recogniser of
    bridge/assets/listener.onnx, or "profile", the key tracker and chord templates), and the pitch classes of its classes."""
    if listener == "profile":
        return ProfileListener(contract.steps_per_beat), pitch_class_tables()
    if listener != "cnn":
        raise ConfigError(f"[engine] listener = {listener!r}: expected one of {', '.join(map(repr, LISTENER_CHOICES))}")
    from sideman.bridge.listen.recogniser import Recogniser

    recogniser = Recogniser.load()
    if recogniser.contract.steps_per_beat != contract.steps_per_beat:
        raise ConfigError(f"[engine] listener = \"cnn\": the recogniser hears {recogniser.contract.steps_per_beat} steps "
                          f"per beat and the model plays {contract.steps_per_beat}; use listener = \"profile\" with this model")
    return recogniser, pitch_class_tables()


def build_answerer(config: Config, part_channels: Sequence[int], switchable: bool = True) -> Answerer | None:
    """The call-and-response answerer when [engine] mode = "answer", or when a control can switch to it
    (`switchable`, live); else None. ModelError on a bad model file; ConfigError if its channel is a part's
    (`part_channels`, 0-based) or the click's."""
    controls = config.controls
    if config.engine.mode != "answer" and not (switchable and max(controls.answer_mode, controls.answer_now) >= 0):
        return None
    from sideman.bridge.core.answer import Answerer, AnswerSettings
    from sideman.bridge.model.melody import DEFAULT_MELODY, MelodyModel

    channel = config.engine.answer_channel - 1
    if channel in part_channels:
        raise ConfigError(f"[engine] answer_channel = {channel + 1}: it is also a part channel; choose distinct channels")
    if (config.bridge.metronome or config.bridge.count_in) and channel == config.bridge.click_channel - 1:
        raise ConfigError(f"[engine] answer_channel = {channel + 1}: it is also the click channel; choose distinct channels")
    listen = config.bridge.input_channel
    settings = AnswerSettings(channel=channel, input_channel=None if listen == 0 else listen - 1, seed=config.engine.seed)
    return Answerer(MelodyModel.load(DEFAULT_MELODY), settings, enabled=config.engine.mode == "answer")


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
    refuse_shared_channels(config, channels, "a band channel")
    listen = config.bridge.input_channel
    if e.key.strip():
        raise ConfigError(f"[engine] key = {e.key!r}: the band style follows the chords it hears and keeps to no key; "
                          f"leave key empty with style = \"band\" (key freeze holds the band's chord)")
    unknown = [name for name in config.parts.mute if name not in BAND_PARTS]
    if unknown:
        raise ConfigError(f"[parts] mute = {list(config.parts.mute)}: the band has no part {unknown[0]!r} "
                          f"(its parts: {', '.join(BAND_PARTS)})")
    return BandSettings(
        part_channels=channels, input_channel=None if listen == 0 else listen - 1,
        bass_range=tuple(b.bass_range), comp_range=tuple(b.comp_range), anchors=tuple(b.anchors), knob=b.knob, density=b.density,
        variations=b.variations, temperature=e.temperature, chord_source=b.chords, split_point=b.split_point,
        chord_channel=b.chord_channel - 1, part_velocity_scale=tuple(b.velocity_scale), seed=e.seed,
        muted_parts=tuple(k for k, name in enumerate(BAND_PARTS) if name in config.parts.mute),
        avoid_clashes=b.avoid_clashes)


def make_engine(model, settings, listener=None, tables=None) -> Engine | BandEngine:
    """The engine for a model and its settings: the band's for BandSettings, else the chorale's."""
    if isinstance(settings, BandSettings):
        return BandEngine(model, settings, getattr(model, "variation", None))
    return Engine(model, settings, listener, tables)


def style_of(engine: Engine | BandEngine) -> str:
    """The style an engine plays: "band" or "chorale"."""
    return "band" if isinstance(engine, BandEngine) else "chorale"


def style_parts(chorale_parts: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each style's part names, the chorale's from its model (what a prompt's part words can name)."""
    return {"chorale": tuple(chorale_parts), "band": BAND_PARTS}


