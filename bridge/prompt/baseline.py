"""The evaluation's baseline: keyword spotting, a plain dictionary lookup of single words.

It knows the parser's one-word settings (slow, waltz, minor, hymn, busy, low, safe, ...), the parts'
names, key spellings written as one word (Dm, F#m, Bb, a capital letter), and the sign of a word in
VADER's lexicon as the mode. No phrases, no numbers, no negation, no degrees, no relative changes, no
current settings; the last word of a setting wins. Numbers and punctuation it passes over.
"""

from __future__ import annotations

import sideman.bridge.prompt.lexicon as lx
from sideman.bridge.prompt.mood import is_mood_word, mood_sign
from sideman.bridge.prompt.settings import PromptSettings
from sideman.bridge.prompt.tokens import tokenize

_KINDS = ("set",)


def keyword_spot(text: str, current: PromptSettings | None = None) -> PromptSettings:
    """Settings from single words looked up in a dictionary; `current` is ignored (the baseline has none)."""
    found: dict = {}
    parts: list[str] = []
    unknown: list[str] = []
    for tok in tokenize(text):
        if tok.kind not in ("word", "keytok"):
            continue
        word = lx.PHRASES.get((tok.low,))
        part = lx.PART_NAMES.get((tok.low,))
        key = _key(tok.text)
        if word is not None and word.kind in _KINDS and word.slot != "mod":
            value = word.value
            if word.slot in lx.GRADED:
                value = int(value) if word.slot == "tempo" else lx.REGISTERS[int(value)] if word.slot == "register" else value
            found[word.slot] = value
        elif part is not None:
            parts.append(str(part.value))
        elif key is not None:
            found["key"] = key
        elif tok.low in lx.STOP_WORDS:
            continue
        elif is_mood_word(tok.low):
            sign = mood_sign([(tok.low, False)])
            if sign:
                found["mode"] = "minor" if sign < 0 else "major"
        else:
            unknown.append(tok.text)
    if "key" in found:
        found["mode"] = found["key"].split()[1]
    named_parts = tuple(p for p in lx.PART_ORDER if p in parts) if parts else None
    return PromptSettings(**found, parts=named_parts, not_understood=tuple(unknown))


def _key(word: str) -> str | None:
    """A key written as one word: a capital B..G, or a letter with an accidental and/or m: Dm, F#m, Bb, Ebm."""
    if not word or word[0].lower() not in lx.TONICS:
        return None
    rest = word[1:]
    accidental = ""
    if rest[:1] in ("#", "♯", "♭") or (rest[:1] == "b" and rest[1:] in ("", "m")):
        accidental, rest = lx.ACCIDENTALS[rest[0]], rest[1:]
    if rest not in ("", "m") or not word[0].isupper() or (word[0] == "A" and not accidental and not rest):
        return None
    return f"{word[0].upper()}{accidental} {'minor' if rest == 'm' else 'major'}"
