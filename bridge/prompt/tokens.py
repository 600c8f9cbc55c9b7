"""A prompt's words: split, lower-cased for matching, kept as typed for `not_understood`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"""
    (?P<meter>\d+\s*/\s*\d+)
  | (?P<keytok>[A-Ga-g][\#♯♭][A-Za-z]*)
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<word>[A-Za-z]+(?:'[A-Za-z]+)*)
  | (?P<sym>[&+@])
  | (?P<hyphen>-)
  | (?P<punct>[^\sA-Za-z0-9])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    text: str  # as typed
    low: str  # lower-case, for matching
    kind: str  # meter | keytok | number | word | sym | punct

    @property
    def number(self) -> float | None:
        return float(self.low) if self.kind == "number" else None


def tokenize(text: str) -> list[Token]:
    """Words, numbers, meters ("3/4"), key spellings ("F#m"), the symbols & + @, and punctuation, which
    separates clauses. A hyphen only splits its word ("up-tempo" is "up", "tempo")."""
    text = text.replace("’", "'")
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "hyphen":
            continue
        word = re.sub(r"\s+", "", m.group()) if kind == "meter" else m.group()
        out.append(Token(word, word.lower(), kind))
    return out
