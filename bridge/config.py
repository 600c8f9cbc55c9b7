"""Typed configuration: one frozen dataclass per concern, filled from defaults, TOML files and flags.

The layers, lowest first: the dataclass defaults, the user's own file (user_config_path(), which
`sideman run --learn` also writes), the file given with --config, the command's flags.

The dataclass defaults below are the defaults; `config.toml` at the repository root documents every
key with the same values (a test keeps the two identical). Validation is driven by each field's
metadata (`choices`, `range`, `item_range`) so that adding a key adds its check.
A bad value raises ConfigError naming the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, get_args, get_origin, get_type_hints

from sideman.bridge.errors import ConfigError

API_CHOICES = ("auto", "alsa", "jack", "coremidi", "windows")
CLOCK_CHOICES = ("auto", "midi", "internal", "follow")
LISTENER_CHOICES = ("cnn", "profile")  # bridge/engines.py hearing_for
# Every command's --config help: what the file is laid over.
CONFIG_FLAG_HELP = "a TOML file laid over the defaults and your own file (~/.config/sideman/sideman.toml, or under $XDG_CONFIG_HOME)"


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
    clock: str = _choice("auto", CLOCK_CHOICES)
    tempo: float = _ranged(100.0, 20.0, 300.0)
    beats_per_bar: int = _ranged(4, 1, 16)
    metronome: bool = False
    count_in: bool = False
    click_channel: int = _ranged(10, 1, 16)
    click_note: int = _ranged(37, 0, 127)
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
    key_strength: float = _ranged(3.0, 0.0, 100.0)
    chord_strength: float = _ranged(3.0, 0.0, 100.0)
    listen_beats: int = _ranged(4, 0, 64)
    key_settle_beats: int = _ranged(16, 0, 256)
    key_close: float = _ranged(0.5, 0.0, 1.0)
    key: str = ""
    mode: str = _choice("accompany", ("accompany", "answer"))
    answer_channel: int = _ranged(5, 1, 16)
    listener: str = _choice("profile", LISTENER_CHOICES)
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
    density: float = _ranged(0.5, 0.0, 1.0)
    variations: int = _ranged(4, 1, 16)
    chords: str = _choice("tune", ("tune", "split", "channel"))
    split_point: int = _ranged(60, 1, 127)
    chord_channel: int = _ranged(16, 1, 16)
    avoid_clashes: bool = True
    variation: bool = False
    variation_model: str = ""

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
    key_freeze: int = _ranged(27, -1, 127)
    panic: int = _ranged(26, -1, 127)
    metronome: int = _ranged(28, -1, 127)
    answer_mode: int = _ranged(85, -1, 127)
    answer_now: int = _ranged(86, -1, 127)
    style_knob: int = _ranged(29, -1, 127)

    def slots(self) -> list[tuple[str, int | None, int]]:
        """Every control as (key, index in a list key or None, CC number), in the order of the keys."""
        out: list[tuple[str, int | None, int]] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out += [(f.name, i, cc) for i, cc in enumerate(value)] if isinstance(value, tuple) else [(f.name, None, value)]
        return out

    def with_slot(self, key: str, index: int | None, cc: int) -> "ControlsConfig":
        """A copy with one control's CC number changed."""
        if index is None:
            return dataclasses.replace(self, **{key: cc})
        items = list(getattr(self, key))
        items[index] = cc
        return dataclasses.replace(self, **{key: tuple(items)})

    def problem(self) -> str | None:
        """The first two controls given one CC number, else None (a number must mean one thing)."""
        owner: dict[int, str] = {}
        for key, index, cc in self.slots():
            name = key if index is None else f"{key} #{index + 1}"
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


def user_config_path() -> Path | None:
    """The user's own config file: $XDG_CONFIG_HOME/sideman/sideman.toml (an absolute XDG_CONFIG_HOME; else
    ~/.config), or None when there is no home folder to find it in."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):
        root = Path(xdg)
    else:
        try:
            root = Path.home() / ".config"
        except RuntimeError:
            return None
    return root / "sideman" / "sideman.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.__class__.__name__}: {exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def config_layers(path: str | Path | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The TOML documents laid over the defaults, lowest first, each with its file's name: the user's own
    file if there is one, then the file at `path` if given."""
    layers = []
    user = user_config_path()
    if user is not None and user.is_file():
        layers.append((str(user), _read_toml(user)))
    if path is not None:
        given = Path(path).expanduser()
        layers.append((str(given), _read_toml(given)))
    return layers


def load_config(path: str | Path | None = None, base: Config | None = None) -> Config:
    """Defaults (or `base`), overlaid with the user's own file, then with the TOML file at `path` if given."""
    config = base or Config()
    for source, doc in config_layers(path):
        config = config_from_mapping(doc, source, config)
    return config


def key_sources(section: str, path: str | Path | None = None) -> dict[str, str]:
    """Where each key of `section` comes from, as load_config(path) lays the files: the last file naming
    it, else "defaults"."""
    sources = {f.name: "defaults" for f in dataclasses.fields(getattr(Config(), section))}
    for source, doc in config_layers(path):
        table = doc.get(section)
        for key in table if isinstance(table, Mapping) else ():
            sources[key] = source
    return sources


def section_values(values: Any) -> dict[str, Any]:
    """One section's keys as plain TOML-able values (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(values).items()}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def _with_table(text: str, section: str, values: Mapping[str, Any]) -> str:
    """`text` with its [section] table (header to the next header) replaced by `values`, or with one appended."""
    table = [f"[{section}]\n"] + [f"{key} = {_toml_value(value)}\n" for key, value in values.items()]
    lines = text.splitlines(keepends=True)
    header = re.compile(rf"\s*\[\s*{re.escape(section)}\s*\]\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        gap = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        return text + gap + "".join(table)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    return "".join(lines[:start] + table + (["\n"] if end < len(lines) else []) + lines[end:])


def save_user_section(section: str, values: Mapping[str, Any], path: Path | None = None) -> Path:
    """Write `values` as the [section] table of the user's own file (or `path`), creating it if need be and
    keeping every other table as it was, byte for byte; returns the file. ConfigError if it cannot."""
    path = path or user_config_path()
    if path is None:
        raise ConfigError("no home folder to keep the user config file in: set HOME or XDG_CONFIG_HOME")
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    before = _read_toml(path) if text else {}
    updated = _with_table(text, section, values)
    try:
        after = tomllib.loads(updated)
    except tomllib.TOMLDecodeError:
        after = None
    # The rewrite must change that table and nothing else (a table spelled as dotted keys would not be found).
    if after != {**before, section: dict(values)}:
        raise ConfigError(f"{path}: cannot rewrite its [{section}] table (is it written as dotted keys or an inline "
                          f"table?); write it as a [{section}] table, or remove it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        spare = path.with_name(path.name + ".tmp")
        spare.write_text(updated, encoding="utf-8")
        os.replace(spare, path)  # a crash mid-write must not leave half a file
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the user config file ({exc.strerror or exc})") from None
    return path


def config_to_toml_values(config: Config) -> dict[str, dict[str, Any]]:
    """The config as plain TOML-able values (tuples become lists), for comparison and display."""
    return {name: section_values(getattr(config, name)) for name in (f.name for f in dataclasses.fields(Config))}
