"""A line typed while Sideman plays ("busier", "only bass", "band", "120 bpm"): the settings it changes, live.

The line is read like a prompt (bridge/prompt), relative to what plays now; what this version can
change while playing is applied on the engine thread at its next wake-up, and one line says what changed,
what it cannot change while playing, and which words it did not understand. A style word switches to a
loaded engine of that style (as Program Change does: the old notes end, the new style answers from the next
tick); the parts, knob and density words then apply to that engine.
"""

from __future__ import annotations

from collections.abc import Callable

from sideman.bridge.config import BridgeConfig, EngineConfig
from sideman.bridge.engines import style_of
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.prompt.apply import prompt_words
from sideman.bridge.prompt.parse import parse_prompt
from sideman.bridge.prompt.settings import PromptSettings

# The same limits as the config file's, so a typed line can ask for nothing a file could not.
_TEMPO = BridgeConfig.__dataclass_fields__["tempo"].metadata["range"]
_TEMPERATURE = EngineConfig.__dataclass_fields__["temperature"].metadata["range"]
# Why a setting cannot change while playing, per setting this loop does not change.
_NOT_LIVE = {"key": "set at start (--key, a prompt) or hold the one heard with key freeze",
             "meter": "the clock's bar is set at start", "register": "no style uses it yet"}


def playing_now(bridge: LiveBridge) -> PromptSettings:
    """What relative words start from: the tempo, the style, its knob and density, temperature and parts now."""
    if not bridge.engines:
        return PromptSettings(tempo=round(bridge.internal.bpm))
    engine = bridge.engine
    band = style_of(engine) == "band"
    names = engine.contract.part_names
    return PromptSettings(tempo=round(bridge.internal.bpm), style=style_of(engine), temperature=engine.temperature,
                          style_knob=engine.knob if band else None, density=engine.density if band else None,
                          parts=prompt_words([name for k, name in enumerate(names) if not engine.muted(k)]))


def typed_line(line: str, bridge: LiveBridge) -> tuple[Callable[[], None] | None, str]:
    """(the change to run on the engine thread, or None; the line that tells the musician what it does)."""
    now = playing_now(bridge)
    asked = parse_prompt(line, now)
    changes: list[Callable[[], None]] = []
    said, later = [], []
    target = bridge.engine if bridge.engines else None  # the engine the line's other words change
    for slot, value in asked.named().items():
        if slot == "tempo":
            if value != now.tempo:
                bpm = min(max(float(value), _TEMPO[0]), _TEMPO[1])
                changes.append(lambda bpm=bpm: bridge.set_tempo(bpm))
                said.append(f"tempo {now.tempo} -> {bpm:g} BPM" + ("" if bridge.clock_source == "internal" else " (when Sideman keeps its own time)"))
        elif target is None:
            later.append(f"{slot} {value} (no accompaniment is loaded)")
        elif slot == "style":
            index = next((k for k, e in enumerate(bridge.engines) if style_of(e) == value), None)
            if value == style_of(target):
                said.append(f"style {value} (already playing)")
            elif index is None:
                said.append(f"style {value}: not loaded in this session (start with --style {value}; then typing "
                            f"band or chorale switches)")
            else:
                changes.append(lambda index=index: bridge.switch_to(index))
                said.append(f"style {style_of(target)} -> {value}")
                target = bridge.engines[index]
        elif slot == "temperature":
            temperature = min(max(float(value), _TEMPERATURE[0]), _TEMPERATURE[1])
            if temperature != target.temperature:
                changes.append(lambda e=target, temperature=temperature: e.set_temperature(temperature))
                said.append(f"temperature {target.temperature:g} -> {temperature:g}")
        elif slot in ("style_knob", "density") and style_of(target) != "band":
            later.append(f"{slot.replace('_', ' ')} {value} (only the band style has it)")
        elif slot == "style_knob":
            changes.append(lambda e=target, knob=float(value): e.set_knob(knob))
            said.append(f"style knob {target.knob:g} -> {value:g}")
        elif slot == "density":
            changes.append(lambda e=target, density=float(value): e.set_density(density))
            said.append(f"density {target.density:g} -> {value:g}")
        elif slot == "parts":
            names = target.contract.part_names
            playing = [name for name, word in zip(names, prompt_words(names)) if word in value]
            before = [name for k, name in enumerate(names) if not target.muted(k)]
            if not playing:
                said.append(f"parts: {', '.join(value) or 'none'} would leave nothing playing; unchanged")
            elif playing != before:
                changes.append(lambda playing=tuple(playing): bridge.play_only(playing))
                said.append(f"parts {', '.join(before)} -> {', '.join(playing)}")
        elif slot != "mode" or asked.key is None:
            why = "the band keeps to the chords it hears" if slot == "key" and style_of(target) == "band" else _NOT_LIVE.get(slot, "")
            later.append(f"{slot} {value}" + (f" ({why})" if why else ""))
    if later:
        said.append("not changed while playing: " + ", ".join(later))
    if asked.not_understood:
        said.append("not understood: " + ", ".join(asked.not_understood))
    if not asked.named():
        said.append("nothing to change (l and Enter learns the controls)")

    def apply() -> None:
        for change in changes:
            change()

    return (apply if changes else None), f"{line.strip()!r}: " + "; ".join(said)
