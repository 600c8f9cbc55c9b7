"""The player's controls on the live bridge: which control change does what (`[controls]` in config.toml).

One table maps each configured CC number to its action. It is built whole and swapped in at once (a
learning round replaces it from the console's thread while the engine thread reads it), never changed
in place. Each action runs on the engine thread, with the CC's value and the message's time stamp.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import mido

from sideman.bridge.config import ControlsConfig
from sideman.bridge.midi import PEDAL_DOWN

Action = Callable[[int, float], None]


class Controlled(Protocol):
    """What the controls may touch: the live bridge (sideman.bridge.live.loop.LiveBridge)."""

    engines: list[Any]
    answerer: Any
    metronome: Any

    @property
    def engine(self) -> Any: ...
    def send(self, messages: Sequence[mido.Message] | None, t: float) -> None: ...
    def silence_all(self, t: float) -> None: ...
    def set_mode(self, mode: str, t: float) -> None: ...


def temperature_from_cc(value: int) -> float:
    """CC 0..127 to temperature 0.1..2.0 on a log scale (equal steps feel equally bold)."""
    return float(0.1 * 20.0 ** (value / 127.0))


def control_table(bridge: Controlled, controls: ControlsConfig) -> dict[int, Action]:
    """CC number -> what it does to `bridge`; a control set to -1 has no CC."""
    def on(value: int) -> bool:  # a switch: pedal-style, down from 64
        return value >= PEDAL_DOWN

    def temperature(value: int, t: float) -> None:
        for engine in bridge.engines:
            engine.set_temperature(temperature_from_cc(value))

    def style_knob(value: int, t: float) -> None:
        for engine in bridge.engines:
            if hasattr(engine, "set_knob"):  # only the band style has one
                engine.set_knob(value / 127.0)

    def accompaniment(value: int, t: float) -> None:
        if bridge.engines:
            bridge.send(bridge.engine.set_enabled(on(value)), t)

    def key_freeze(value: int, t: float) -> None:
        if bridge.engines:
            bridge.engine.freeze_key(on(value))

    def answer_now(value: int, t: float) -> None:
        if bridge.answerer is not None and on(value):
            bridge.answerer.request()

    def mute(part: int) -> Action:
        def action(value: int, t: float) -> None:
            if bridge.engines:
                bridge.send(bridge.engine.set_muted(part, on(value)), t)
        return action

    actions: dict[int, Action] = {}
    for cc, action in ((controls.temperature, temperature), (controls.accompaniment, accompaniment),
                       (controls.panic, lambda value, t: bridge.silence_all(t)), (controls.key_freeze, key_freeze),
                       (controls.metronome, lambda value, t: bridge.send(bridge.metronome.set_enabled(on(value)), t)),
                       (controls.answer_mode, lambda value, t: bridge.set_mode("answer" if on(value) else "accompany", t)),
                       (controls.answer_now, answer_now), (controls.style_knob, style_knob)):
        if cc >= 0:
            actions[cc] = action
    for part, cc in enumerate(controls.mute_parts):
        if cc >= 0:
            actions[cc] = mute(part)
    return actions
