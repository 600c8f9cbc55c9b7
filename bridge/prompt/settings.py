"""What a prompt asks for: `PromptSettings`, one field per setting, None where the text names nothing."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

# The settings, in the order the JSON and the summary show them.
SLOTS = ("tempo", "meter", "key", "mode", "style", "style_knob", "density", "register", "temperature", "parts")


@dataclass(frozen=True)
class PromptSettings:
    """Settings derived from a prompt (docs/prompts.md): None = the text did not name it."""

    tempo: int | None = None  # BPM
    meter: str | None = None  # "3/4"
    key: str | None = None  # "D minor", "Bb major"
    mode: str | None = None  # "major" | "minor"
    style: str | None = None  # "chorale" | "band"
    style_knob: float | None = None  # 0 = sustained .. 1 = driving
    density: float | None = None  # 0 = sparse .. 1 = very busy
    register: str | None = None  # "low" | "middle" | "high"
    temperature: float | None = None
    parts: tuple[str, ...] | None = None  # the parts that play
    not_understood: tuple[str, ...] = ()  # words not understood, as typed

    def named(self) -> dict[str, Any]:
        """The settings the text names, in SLOTS order."""
        return {slot: getattr(self, slot) for slot in SLOTS if getattr(self, slot) is not None}

    def to_dict(self) -> dict[str, Any]:
        """Every key, None for what the text did not name; tuples as lists."""
        out: dict[str, Any] = {slot: getattr(self, slot) for slot in SLOTS}
        if self.parts is not None:
            out["parts"] = list(self.parts)
        out["not_understood"] = list(self.not_understood)
        return out

    def to_json(self) -> str:
        """One line of JSON with every key (null: not named)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def over(self, current: PromptSettings) -> PromptSettings:
        """`current` with every setting this names replaced (the not_understood words are this one's)."""
        return dataclasses.replace(current, **self.named(), not_understood=self.not_understood)

    def summary(self) -> list[str]:
        """Readable lines: one per named setting, then the words not understood."""
        lines = [f"{slot.replace('_', ' ')}: {_show(slot, value)}" for slot, value in self.named().items()]
        if not lines:
            lines.append("no setting named")
        if self.not_understood:
            lines.append("not understood: " + ", ".join(self.not_understood))
        return lines


def _show(slot: str, value: Any) -> str:
    if slot == "tempo":
        return f"{value} BPM"
    if slot == "parts":
        return ", ".join(value) if value else "none (every part muted)"
    return str(value)
