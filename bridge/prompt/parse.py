"""`parse_prompt`: English text to `PromptSettings`, by the grammar of docs/prompts.md.

prompt.scan reads the words into events; this turns the events into values, in text order, starting
from the current settings where a change is relative ("busier", "no tenor", "minor").
"""

from __future__ import annotations

import sideman.bridge.prompt.lexicon as lx
from sideman.bridge.prompt.mood import arousal_sign, is_mood_word, mood_sign
from sideman.bridge.prompt.scan import Event, Scanner
from sideman.bridge.prompt.settings import PromptSettings
from sideman.bridge.prompt.tokens import tokenize

OTHER = {"major": "minor", "minor": "major", "chorale": "band", "band": "chorale"}


def parse_prompt(text: str, current: PromptSettings | None = None) -> PromptSettings:
    """The settings `text` names (None where it names nothing); relative words change `current`."""
    current = current or PromptSettings()
    tokens = tokenize(text)
    scan = Scanner(tokens, is_mood_word).run()
    events = scan.events
    mood = mood_sign(scan.mood)
    arousal = arousal_sign(scan.mood)
    pace = mood if arousal is None else arousal  # calm or energetic words decide pace, else pleasantness
    values: dict = {slot: _graded(slot, [e for e in events if e.slot == slot], current) for slot in lx.GRADED}
    for slot, step in (("tempo", lx.MOOD_TEMPO), ("density", lx.MOOD_DENSITY)):
        if pace and values[slot] is None:
            values[slot] = _finish(slot, _start(slot, None, current) + pace * step)
    values["meter"] = _last(events, "meter", lambda v: "4/4" if v != "4/4" else None)
    style = _last(events, "style", OTHER.get) or _inferred_style(events)
    key, mode = _key(events, current, {-1: "minor", 1: "major"}.get(mood))
    parts = _parts(events, current, style)
    unknown = tuple(tokens[i].text for i in sorted(set(scan.unknown)))
    return PromptSettings(key=key, mode=mode, style=style, parts=parts, not_understood=unknown, **values)


def _start(slot: str, value: float | None, current: PromptSettings) -> float:
    """Where a relative change starts: the value so far, else the current one, else the middle."""
    if value is not None:
        return value
    now = _number(slot, getattr(current, slot))
    return lx.MIDDLE[slot] if now is None else now


def _number(slot: str, value) -> float | None:
    if value is None:
        return None
    return float(lx.REGISTERS.index(value)) if slot == "register" else float(value)


def _graded(slot: str, events: list[Event], current: PromptSettings):
    middle = lx.MIDDLE[slot]
    value: float | None = None
    numbered = any(e.kind == "number" for e in events)  # "60 bpm ballad" is 60: a number beats a word
    for e in events:
        if e.kind in ("set", "neg") and numbered:
            continue
        if e.kind == "number":
            value = float(e.value)
        elif e.kind == "set":
            value = middle + e.factor * (float(e.value) - middle)
        elif e.kind == "rel":
            value = _start(slot, value, current) + float(e.value) * lx.STEP[slot] * e.factor
        elif e.kind == "delta":
            value = _start(slot, value, current) + float(e.value)
        elif e.kind == "scale":
            value = _start(slot, value, current) * float(e.value)
        elif e.kind == "neg":
            ref = value if value is not None else _number(slot, getattr(current, slot))
            other_side = ref is not None and (ref - middle) * (float(e.value) - middle) <= 0
            value = ref if other_side else middle
    return None if value is None else _finish(slot, value)


def _finish(slot: str, value: float):
    lo, hi = lx.RANGE[slot]
    value = min(hi, max(lo, value))
    if slot == "tempo":
        return int(round(value))
    if slot == "register":
        return lx.REGISTERS[int(round(value))]
    return round(value, 2)


def _last(events: list[Event], slot: str, negated):
    """The last value named for a non-graded slot; a negated one through `negated`."""
    value = None
    for e in events:
        if e.slot == slot:
            value = negated(e.value) if e.kind == "neg" else e.value
    return value


def _inferred_style(events: list[Event]) -> str | None:
    """The one style of the parts asked for, if only one style has them."""
    styles = {lx.PART_STYLE[name] for e in events if e.slot == "parts" and e.kind in ("only", "add")
              for name in e.value if name in lx.PART_STYLE}
    return styles.pop() if len(styles) == 1 else None


def _key(events: list[Event], current: PromptSettings, mood_mode: str | None) -> tuple[str | None, str | None]:
    mode = _last(events, "mode", OTHER.get) or mood_mode
    keys = [e.value for e in events if e.slot == "key"]
    if keys:
        tonic, own = keys[-1]
        mode = own or mode or (current.key.split()[1] if current.key else "major")
        return f"{tonic} {mode}", mode
    if mode and current.key:
        return f"{current.key.split()[0]} {mode}", mode
    return None, mode


def _parts(events: list[Event], current: PromptSettings, style: str | None) -> tuple[str, ...] | None:
    full = set(lx.STYLE_PARTS[style or current.style or lx.DEFAULT_STYLE])
    # The parts playing now are the current style's: a new style's part words start from all of its parts.
    same_style = style is None or style == (current.style or lx.DEFAULT_STYLE)
    playing = set(current.parts) if current.parts is not None and same_style else None
    named = False
    for e in events:
        if e.slot != "parts":
            continue
        named = True
        base = full if playing is None else playing
        names = set(e.value)
        playing = {"only": names, "remove": base - names, "add": base | names, "all": full}[e.kind]
    if not named:
        return None
    return tuple(p for p in lx.PART_ORDER if p in playing)
