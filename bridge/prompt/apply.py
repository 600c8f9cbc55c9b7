"""A prompt's settings into a Config: the keys a command can use today, and one line for each it cannot.

The prompt sits between the config file and the flags: it replaces what the file says, a flag the
user gave wins over it. The engine is then built from the Config as for flags (bridge/engines.py).
The style comes first: it decides which parts the prompt's part words name and whether the style
knob, the density and the key mean anything.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from sideman.bridge.config import Config
from sideman.bridge.errors import ConfigError
from sideman.bridge.prompt.settings import PromptSettings

# What each setting becomes in the Config; settings not here are not used by any command yet.
CONFIG_KEYS = {"temperature": ("engine", "temperature"), "parts": ("parts", "mute"), "tempo": ("bridge", "tempo"),
               "key": ("engine", "key"), "style": ("engine", "style"), "style_knob": ("band", "knob"),
               "density": ("band", "density")}
# Settings only the band style has, and the one only the chorale style has (the band keeps to no key).
BAND_ONLY = ("style_knob", "density")
CHORALE_ONLY = ("key",)
# An engine's part name -> the prompt's word for it (the prompt says "chords" for the band's comping).
PROMPT_WORD = {"comping": "chords"}


def prompt_words(part_names: Sequence[str]) -> tuple[str, ...]:
    """The prompt's words for an engine's parts ("comping" -> "chords")."""
    return tuple(PROMPT_WORD.get(name, name) for name in part_names)


def current_settings(config: Config, styles: Mapping[str, Sequence[str]]) -> PromptSettings:
    """What relative words ("wilder", "no tenor", "busier") start from: the config's values and the style's parts.
    `styles`: each style's part names (its engine's)."""
    style = config.engine.style
    names = styles[style]
    band = style == "band"
    return PromptSettings(temperature=config.engine.temperature, style=style,
                          style_knob=config.band.knob if band else None, density=config.band.density if band else None,
                          parts=prompt_words([p for p in names if p not in config.parts.mute]))


def apply_prompt(config: Config, prompt: PromptSettings, styles: Mapping[str, Sequence[str]], *,
                 given: Collection[str] = (), kept: dict[str, str] | None = None) -> tuple[Config, list[str]]:
    """`config` with the prompt's style, temperature, parts (the style's other parts muted), the band's knob and
    density, the chorale's key, and the lines that say what was applied and what was not. `styles`: each style's
    part names; `given`: settings a flag set (they win); `kept`: setting -> why this command keeps its own value.
    ConfigError if the prompt leaves none of the style's parts."""
    kept = kept or {}
    lines, applied, unused, other_style = [], [], [], []
    named = prompt.named()
    style = config.engine.style
    wanted = named.get("style")
    if wanted is not None and "style" not in given and "style" not in kept and wanted in styles:
        style = wanted
    for slot, value in named.items():
        shown = f"{slot} {_show(value)}"
        if slot in given:
            lines.append(f"prompt: {shown} not used: the flag given wins")
        elif slot in kept:
            lines.append(f"prompt: {shown} not used: {kept[slot]}")
        elif slot == "style" and value not in styles:
            lines.append(f"prompt: {shown} not used: this command has no {value} style")
        elif (slot in BAND_ONLY and style != "band") or (slot in CHORALE_ONLY and style == "band"):
            other_style.append(shown)
        elif slot == "parts":
            config, line = _parts(config, value, styles[style])
            applied.append(line)
        elif slot in CONFIG_KEYS:
            section, key = CONFIG_KEYS[slot]
            config = config.replace(section, **{key: value})
            applied.append(shown)
        elif slot != "mode" or prompt.key is None:  # the key's mode goes with the key
            unused.append(shown)
    if applied:
        lines.insert(0, "prompt: " + ", ".join(applied))
    if other_style:
        why = ("the band keeps to the chords it hears, not to a key" if style == "band"
               else "only the band style has them" + ("; say band" if "band" in styles else ""))
        lines.append(f"prompt: not used by the {style} style: {', '.join(other_style)} ({why})")
    if unused:
        lines.append("prompt: not applied by this version yet: " + ", ".join(unused))
    if prompt.not_understood:
        lines.append("prompt: not understood: " + ", ".join(prompt.not_understood))
    return config, lines


def _parts(config: Config, wanted: Sequence[str], part_names: Sequence[str]) -> tuple[Config, str]:
    words = prompt_words(part_names)
    playing = [name for name, word in zip(part_names, words) if word in wanted]
    missing = [p for p in wanted if p not in words]
    if not playing:
        asked = f"asks for {', '.join(wanted)} only" if wanted else "mutes every part"
        raise ConfigError(f"the prompt {asked}: nothing would play (the model's parts: {', '.join(part_names)})")
    muted = tuple(p for p in part_names if p not in playing)
    line = f"parts {', '.join(playing) or 'none'}" + (f" ({', '.join(muted)} muted)" if muted else "")
    if missing:
        line += f"; the model has no {', '.join(missing)} part (its parts: {', '.join(part_names)})"
    return config.replace("parts", mute=muted), line


def _show(value) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)
