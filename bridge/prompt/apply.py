"""A prompt's settings into a Config: the keys a command can use today, and one line for each it cannot.

The prompt sits between the config file and the flags: it replaces what the file says, a flag the
user gave wins over it. The engine is then built from the Config as for flags (bridge/engines.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sideman.bridge.config import Config
from sideman.bridge.errors import ConfigError
from sideman.bridge.prompt.settings import PromptSettings

# What each setting becomes in the Config; settings not here are not used by any command yet.
CONFIG_KEYS = {"temperature": ("engine", "temperature"), "parts": ("parts", "mute"), "tempo": ("bridge", "tempo")}
KEY_NOT_USED = "key: not used yet"  # no engine setting locks the key yet


def current_settings(config: Config, part_names: Sequence[str]) -> PromptSettings:
    """What relative words ("wilder", "no tenor") start from: the config's values and the model's parts."""
    return PromptSettings(temperature=config.engine.temperature,
                          parts=tuple(p for p in part_names if p not in config.parts.mute))


def apply_prompt(config: Config, prompt: PromptSettings, part_names: Sequence[str], *,
                 given: Collection[str] = (), kept: dict[str, str] | None = None) -> tuple[Config, list[str]]:
    """`config` with the prompt's temperature and parts (the model's other parts muted), and the lines that
    say what was applied and what was not. `given`: settings a flag set (they win); `kept`: setting ->
    why this command keeps its own value. ConfigError if the prompt leaves none of the model's parts."""
    kept = kept or {}
    lines, applied, unused = [], [], []
    for slot, value in prompt.named().items():
        shown = f"{slot} {_show(value)}"
        if slot in given:
            lines.append(f"prompt: {shown} not used: the flag given wins")
        elif slot in kept:
            lines.append(f"prompt: {shown} not used: {kept[slot]}")
        elif slot == "parts":
            config, line = _parts(config, value, part_names)
            applied.append(line)
        elif slot in CONFIG_KEYS:
            section, key = CONFIG_KEYS[slot]
            config = config.replace(section, **{key: value})
            applied.append(shown)
        elif slot == "key":
            lines.append(KEY_NOT_USED)
        elif slot != "mode" or prompt.key is None:  # the key's mode goes with the key
            unused.append(shown)
    if applied:
        lines.insert(0, "prompt: " + ", ".join(applied))
    if unused:
        lines.append("prompt: not applied by this version yet: " + ", ".join(unused))
    if prompt.not_understood:
        lines.append("prompt: not understood: " + ", ".join(prompt.not_understood))
    return config, lines


def _parts(config: Config, wanted: Sequence[str], part_names: Sequence[str]) -> tuple[Config, str]:
    playing = [p for p in part_names if p in wanted]
    missing = [p for p in wanted if p not in part_names]
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

