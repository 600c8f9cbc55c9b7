"""Typed configuration: one frozen dataclass per concern, filled from defaults, a user TOML file and flags.

The dataclass defaults below are the defaults; `config.toml` at the repository root documents every
key with the same values (a test keeps the two identical). Validation is driven by each field's
metadata (`choices`, `range`, `item_range`) so that adding a key adds its check.
A bad value raises ConfigError naming the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, get_args, get_origin, get_type_hints

from sideman.bridge.errors import ConfigError

API_CHOICES = ("auto", "alsa", "jack", "coremidi", "windows")


def _choice(default: str, choices: tuple[str, ...]) -> Any:
    return field(default=default, metadata={"choices": choices})


def _ranged(default: Any, lo: float, hi: float) -> Any:
    return field(default=default, metadata={"range": (lo, hi)})


def _ranged_list(default: tuple, lo: float, hi: float, distinct: bool = False) -> Any:
    return field(default=default, metadata={"item_range": (lo, hi), "distinct": distinct})


def _name(default: str) -> Any:
    return field(default=default, metadata={"non_empty": True})


@dataclass(frozen=True)
class PortsConfig:
    api: str = _choice("auto", API_CHOICES)
    client_name: str = _name("Sideman")
    input_name: str = _name("Sideman In")
    output_name: str = _name("Sideman Out")
    connect_input: str = ""
    connect_output: str = ""


@dataclass(frozen=True)
class BridgeConfig:
    thru: bool = False
    input_channel: int = _ranged(0, 0, 16)
    model: str = ""
    clock: str = _choice("auto", ("auto", "midi", "internal"))
    tempo: float = _ranged(100.0, 20.0, 300.0)
    beats_per_bar: int = _ranged(4, 1, 16)
    queue_capacity: int = _ranged(4096, 64, 1_000_000)
    realtime_priority: int = _ranged(1, 0, 98)


@dataclass(frozen=True)
class PartsConfig:
    channels: tuple[int, ...] = _ranged_list((2, 3, 4), 1, 16, distinct=True)
    velocity_scale: tuple[float, ...] = _ranged_list((0.8, 0.8, 0.9), 0.0, 2.0)
    mute: tuple[str, ...] = ()  # names of the model's parts that start muted (checked against the model)


@dataclass(frozen=True)
class EngineConfig:
    lead_policy: str = _choice("highest", ("highest", "lowest", "latest"))
    early_window_ms: float = _ranged(50.0, 0.0, 200.0)
    late_window_ms: float = _ranged(50.0, 0.0, 200.0)
    temperature: float = _ranged(0.7, 0.05, 5.0)
    top_p: float = _ranged(1.0, 0.01, 1.0)
    forbid_parallels: bool = True
    seed: int = _ranged(0, 0, 2**31 - 1)
    clash_strength: float = _ranged(8.0, 0.0, 100.0)
    key_strength: float = _ranged(0.0, 0.0, 100.0)
    chord_strength: float = _ranged(0.0, 0.0, 100.0)
    listen_beats: int = _ranged(0, 0, 64)
    style: str = _choice("chorale", ("chorale", "band"))


@dataclass(frozen=True)
class BandConfig:
    """The band style (bridge/band/): its parts' channels (1-based) and registers, the style knob's anchors."""

    model: str = ""
    channels: tuple[int, ...] = _ranged_list((2, 3), 1, 16, distinct=True)
    bass_range: tuple[int, ...] = _ranged_list((36, 55), 0, 127)
    comp_range: tuple[int, ...] = _ranged_list((52, 67), 0, 127)
    velocity_scale: tuple[float, ...] = _ranged_list((0.85, 0.65), 0.0, 2.0)
    anchors: tuple[str, ...] = ("sustained", "walking")
    knob: float = _ranged(0.0, 0.0, 1.0)
    variations: int = _ranged(4, 1, 16)
    chords: str = _choice("tune", ("tune", "split", "channel"))
    split_point: int = _ranged(60, 1, 127)
    chord_channel: int = _ranged(16, 1, 16)
    avoid_clashes: bool = True

    def problem(self) -> str | None:
        """A rule across keys: two channels, two anchors, ranges of at least an octave."""
        if len(self.channels) != 2 or len(self.velocity_scale) != 2 or len(self.anchors) != 2:
            return "channels, velocity_scale and anchors take two values each: bass, then comping"
        for name, r in (("bass_range", self.bass_range), ("comp_range", self.comp_range)):
            if len(r) != 2 or r[1] - r[0] < 11:
                return f"{name} = {list(r)}: give [low, high] at least an octave apart"
        return None


@dataclass(frozen=True)
class ControlsConfig:
    """CC numbers (0..127) of the live controls; -1 disables a control."""

    temperature: int = _ranged(21, -1, 127)
    accompaniment: int = _ranged(22, -1, 127)
    mute_parts: tuple[int, ...] = _ranged_list((23, 24, 25), -1, 127)
    panic: int = _ranged(26, -1, 127)
    style_knob: int = _ranged(27, -1, 127)

    def problem(self) -> str | None:
        """The first two controls given one CC number, else None (a number must mean one thing)."""
        owner: dict[int, str] = {}
        named = [("temperature", self.temperature), ("accompaniment", self.accompaniment)]
        named += [(f"mute_parts #{i + 1}", cc) for i, cc in enumerate(self.mute_parts)] + [("panic", self.panic), ("style_knob", self.style_knob)]
        for name, cc in named:
            if cc < 0:
                continue
            if cc in owner:
                return f"{owner[cc]} = {cc} and {name} = {cc}: one CC number for two controls; give each its own, or -1 to disable one"
            owner[cc] = name
        return None


@dataclass(frozen=True)
class RecordingConfig:
    enabled: bool = True
    directory: str = "~/.local/share/sideman/sessions"


@dataclass(frozen=True)
class StatusConfig:
    quiet: bool = False
    log_file: str = ""


@dataclass(frozen=True)
class AudioConfig:
    """How `--wav` and `sideman demo` render through FluidSynth: General MIDI programs are 0-based."""

    soundfont: str = ""
    melody_program: int = _ranged(0, 0, 127)
    part_programs: tuple[int, ...] = _ranged_list((52, 48, 42), 0, 127)


@dataclass(frozen=True)
class Config:
    ports: PortsConfig = PortsConfig()
    bridge: BridgeConfig = BridgeConfig()
    parts: PartsConfig = PartsConfig()
    engine: EngineConfig = EngineConfig()
    band: BandConfig = BandConfig()
    controls: ControlsConfig = ControlsConfig()
    recording: RecordingConfig = RecordingConfig()
    status: StatusConfig = StatusConfig()
    audio: AudioConfig = AudioConfig()

    def replace(self, section: str, **values: Any) -> "Config":
        """A copy with some keys of one section changed (validated like a file)."""
        merged = dataclasses.asdict(getattr(self, section)) | values
        return dataclasses.replace(self, **{section: _build_section(type(getattr(self, section)), merged, "<flags>", section)})

    def with_flags(self, **sections: Mapping[str, Any]) -> "Config":
        """A copy with the flags given (None = not given) replacing their keys, section by section."""
        config = self
        for section, values in sections.items():
            given = {k: v for k, v in values.items() if v is not None}
            if given:
                config = config.replace(section, **given)
        return config


def limits(section: type, key: str) -> tuple[float, float]:
    """The range a ranged key allows: for checks of the same quantity outside the config."""
    return next(f for f in dataclasses.fields(section) if f.name == key).metadata["range"]


def _describe_type(tp: Any) -> str:
    if get_origin(tp) is tuple:
        return f"a list of {get_args(tp)[0].__name__}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[tp]


def _coerce(tp: Any, value: Any) -> Any:
    """Convert a TOML value to the field's type, or raise TypeError."""
    if get_origin(tp) is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        return tuple(_coerce(get_args(tp)[0], v) for v in value)
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    raise TypeError


def _check(f: dataclasses.Field, value: Any) -> str | None:
    """Return what is allowed if `value` breaks the field's metadata, else None."""
    meta = f.metadata
    if "choices" in meta and value not in meta["choices"]:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    if "range" in meta:
        lo, hi = meta["range"]
        if not lo <= value <= hi:
            return f"a value from {lo} to {hi}"
    if "item_range" in meta:
        lo, hi = meta["item_range"]
        if not value or not all(lo <= v <= hi for v in value):
            return f"a non-empty list of values from {lo} to {hi}"
        if meta["distinct"] and len(set(value)) < len(value):
            twice = sorted({v for v in value if value.count(v) > 1})
            return f"distinct values ({' and '.join(map(str, twice))} given more than once)"
    if meta.get("non_empty") and not value.strip():
        return "a name, not an empty string"
    return None


def _build_section(cls: type, values: Mapping[str, Any], source: str, section: str) -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        where = f"{source}: [{section}] {key}"
        if key not in fields:
            raise ConfigError(f"{where}: unknown key (known keys: {', '.join(fields)})")
        try:
            coerced = _coerce(hints[key], value)
        except TypeError:
            raise ConfigError(f"{where} = {value!r}: expected {_describe_type(hints[key])}") from None
        allowed = _check(fields[key], coerced)
        if allowed:
            raise ConfigError(f"{where} = {value!r}: expected {allowed}")
        kwargs[key] = coerced
    built = cls(**kwargs)
    problem = getattr(built, "problem", lambda: None)()  # a rule across keys of the section
    if problem:
        raise ConfigError(f"{source}: [{section}] {problem}")
    return built


def config_from_mapping(doc: Mapping[str, Any], source: str, base: Config | None = None) -> Config:
    """Overlay a parsed TOML document on `base` (default: the built-in defaults), validating every key."""
    base = base or Config()
    sections = {f.name: f for f in dataclasses.fields(Config)}
    updates = {}
    for name, values in doc.items():
        if name not in sections:
            raise ConfigError(f"{source}: unknown section [{name}] (known: {', '.join(sections)})")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: [{name}] must be a table of keys")
        current = dataclasses.asdict(getattr(base, name))
        updates[name] = _build_section(type(getattr(base, name)), current | dict(values), source, name)
    return dataclasses.replace(base, **updates)


def load_config(path: str | Path | None = None, base: Config | None = None) -> Config:
    """Defaults, overlaid with the TOML file at `path` if given."""
    if path is None:
        return base or Config()
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.__class__.__name__}: {exc})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return config_from_mapping(doc, str(path), base)


def config_to_toml_values(config: Config) -> dict[str, dict[str, Any]]:
    """The config as plain TOML-able values (tuples become lists), for comparison and display."""
    return {
        name: {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(getattr(config, name)).items()}
        for name in (f.name for f in dataclasses.fields(Config))
    }
