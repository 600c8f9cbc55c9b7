"""A line typed while Sideman plays ("busier", "only bass", "120 bpm"): the settings it changes, live.

The line is read like a prompt (bridge/prompt), relative to what plays now; what this version can
change while playing is applied on the engine thread at its next wake-up, and one line says what changed,
what it cannot change yet, and which words it did not understand.
"""

from __future__ import annotations

from collections.abc import Callable

from sideman.bridge.config import BridgeConfig, EngineConfig
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.prompt.parse import parse_prompt
from sideman.bridge.prompt.settings import PromptSettings

# The same limits as the config file's, so a typed line can ask for nothing a file could not.
_TEMPO = BridgeConfig.__dataclass_fields__["tempo"].metadata["range"]
_TEMPERATURE = EngineConfig.__dataclass_fields__["temperature"].metadata["range"]


def playing_now(bridge: LiveBridge) -> PromptSettings:
    """What relative words start from: the tempo, temperature and parts playing now."""
    names = bridge.engine.contract.part_names if bridge.engines else ()
    parts = tuple(name for k, name in enumerate(names) if not bridge.engine.muted(k)) if bridge.engines else None
    return PromptSettings(tempo=round(bridge.internal.bpm), temperature=bridge.engine.temperature if bridge.engines else None,
                          parts=parts)


def typed_line(line: str, bridge: LiveBridge) -> tuple[Callable[[], None] | None, str]:
    """(the change to run on the engine thread, or None; the line that tells the musician what it does)."""
    now = playing_now(bridge)
    asked = parse_prompt(line, now)
    changes: list[Callable[[], None]] = []
    said, later = [], []
    for slot, value in asked.named().items():
        if slot == "tempo" and value != now.tempo:
            bpm = min(max(float(value), _TEMPO[0]), _TEMPO[1])
            changes.append(lambda bpm=bpm: bridge.set_tempo(bpm))
            said.append(f"tempo {now.tempo} -> {bpm:g} BPM" + ("" if bridge.clock_source == "internal" else " (when Sideman keeps its own time)"))
        elif slot == "temperature" and bridge.engines and value != now.temperature:
            temperature = min(max(float(value), _TEMPERATURE[0]), _TEMPERATURE[1])
            changes.append(lambda temperature=temperature: bridge.engine.set_temperature(temperature))
            said.append(f"temperature {now.temperature:g} -> {temperature:g}")
        elif slot == "parts" and bridge.engines and tuple(value) != now.parts:
            names = bridge.engine.contract.part_names
            playing = [name for name in names if name in value]
            if not playing:
                said.append(f"parts: {', '.join(value) or 'none'} would leave nothing playing; unchanged")
                continue
            changes.append(lambda playing=tuple(playing): bridge.play_only(playing))
            said.append(f"parts {', '.join(now.parts or ())} -> {', '.join(playing)}")
        elif slot not in ("tempo", "temperature", "parts") and (slot != "mode" or asked.key is None):
            later.append(f"{slot} {value}")
    if later:
        said.append("not changed while playing yet: " + ", ".join(later))
    if asked.not_understood:
        said.append("not understood: " + ", ".join(asked.not_understood))
    if not asked.named():
        said.append("nothing to change (l and Enter learns the controls)")

    def apply() -> None:
        for change in changes:
            change()

    return (apply if changes else None), f"{line.strip()!r}: " + "; ".join(said)
