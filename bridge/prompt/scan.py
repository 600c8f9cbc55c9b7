"""From words to events: which phrase names which setting, read left to right (docs/prompts.md).

The scanner only reads: each rule claims the words it understood and emits events ("tempo set 72",
"density rel +1", "parts remove tenor"); prompt.resolve turns the events into values. Modifiers
(not, very, a bit, more, less) wait for the next setting word in their clause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sideman.bridge.prompt.lexicon as lx
from sideman.bridge.prompt.tokens import Token

SKIPPED_BEFORE_NUMBER = (":", "=")  # "tempo: 90", "temperature=0.9"


@dataclass(frozen=True)
class Event:
    slot: str
    kind: str  # set | number | rel | delta | scale | neg | only | remove | add | all
    value: object
    factor: float = 1.0  # degree: how far from the middle (set) or how big a step (rel)


@dataclass
class Scan:
    events: list[Event] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)  # token indices not understood
    mood: list[tuple[str, bool]] = field(default_factory=list)  # (word, negated) left for the mood lexicon


@dataclass
class _Mod:
    kind: str  # neg | degree | rel_degree | more
    value: object
    at: tuple[int, ...]  # its tokens


class Scanner:
    def __init__(self, tokens: list[Token], is_mood_word: Callable[[str], bool]) -> None:
        self.t = tokens
        self.is_mood_word = is_mood_word
        self.out = Scan()
        self.pending: list[_Mod] = []

    # -- helpers -------------------------------------------------------------------------------------
    def low(self, i: int) -> str | None:
        return self.t[i].low if i < len(self.t) else None

    def words_at(self, i: int, table: dict[tuple[str, ...], lx.Word]) -> tuple[int, lx.Word] | None:
        """The longest phrase of `table` starting at token i: (its length, its meaning)."""
        for n in range(4, 0, -1):
            if i + n > len(self.t) or any(tok.kind == "punct" for tok in self.t[i:i + n]):
                continue
            word = table.get(tuple(tok.low for tok in self.t[i:i + n]))
            if word is not None:
                return n, word
        return None

    def phrase_at(self, i: int, phrases: tuple[tuple[str, ...], ...]) -> int:
        """Length of the longest of `phrases` at token i, 0 if none."""
        best = 0
        for p in phrases:
            if len(p) > best and tuple(self.low(i + k) for k in range(len(p))) == p:
                best = len(p)
        return best

    def take(self, kind: str) -> _Mod | None:
        for mod in self.pending:
            if mod.kind == kind:
                return mod
        return None

    def emit(self, slot: str, kind: str, value: object, factor: float = 1.0) -> None:
        self.out.events.append(Event(slot, kind, value, factor))

    # -- the scan ------------------------------------------------------------------------------------
    def run(self) -> Scan:
        i = 0
        rules = (self.meter_token, self.key, self.numbers, self.parts, self.phrase, self.bare_number)
        while i < len(self.t):
            tok = self.t[i]
            if tok.kind == "punct":
                self.drop_pending()
                i += 1
                continue
            used = next((n for rule in rules if (n := rule(i))), 0)
            if used:
                i += used
                continue
            if tok.kind == "sym" or tok.low in lx.STOP_WORDS:
                pass
            elif tok.kind == "word" and (tok.low,) not in lx.PART_OPS and self.is_mood_word(tok.low):
                self.out.mood.append((tok.low, self.take("neg") is not None))
                self.pending.clear()
            else:
                self.out.unknown.append(i)
                self.drop_pending()
            i += 1
        self.drop_pending()
        return self.out

    def drop_pending(self) -> None:
        """Modifiers that modified nothing: a stop word is passed over, any other is not understood."""
        for mod in self.pending:
            self.out.unknown.extend(k for k in mod.at if self.t[k].low not in lx.STOP_WORDS)
        self.pending.clear()

    # -- rules: each returns how many tokens it understood (0: not its words) ---------------------------
    def meter_token(self, i: int) -> int:
        tok = self.t[i]
        if tok.kind != "meter":
            return 0
        num, den = (int(x) for x in tok.low.split("/"))
        if 1 <= num <= 16 and den in lx.METER_DENOMINATORS:
            self.setting("meter", "set", f"{num}/{den}")
        else:
            self.out.unknown.append(i)
        return 1

    def key(self, i: int) -> int:
        cue = self.phrase_at(i, lx.KEY_CUES)
        j = i + cue
        while cue and self.low(j) == ":":
            j += 1
        found = self.tonic(j, bool(cue), self.low(i) == "in") if j < len(self.t) else None
        if found is None:
            return 0
        n, tonic, mode = found
        if self.take("neg") is not None:  # "not in D" names no key
            self.out.unknown.extend(k for k in range(j, j + n))
            self.pending.clear()
        else:
            self.emit("key", "set", (tonic, mode))
            self.pending.clear()
        return j + n - i

    def tonic(self, j: int, cue: bool, after_in: bool) -> tuple[int, str, str | None] | None:
        """A key spelled from token j: (tokens used, "Bb", "minor" or None), or None."""
        tok = self.t[j]
        if tok.kind not in ("word", "keytok") or tok.low[0] not in lx.TONICS:
            return None
        letter, rest = tok.low[0], tok.low[1:]
        accidental = ""
        if rest[:1] in ("#", "♯", "♭") or (rest[:1] == "b" and rest[1:] in ("", *lx.MODE_SUFFIXES)):
            accidental, rest = lx.ACCIDENTALS[rest[0]], rest[1:]
        if rest and rest not in lx.MODE_SUFFIXES:
            return None
        mode = lx.MODE_SUFFIXES.get(rest)
        if rest == "m" and not (tok.text[0].isupper() or cue):  # "am", "em" are English
            return None
        n = 1
        if not accidental and self.low(j + 1) in ("sharp", "flat", "#", "♯", "♭"):
            accidental = lx.ACCIDENTALS[self.low(j + 1)]
            n += 1
        if mode is None:
            word = lx.PHRASES.get((self.low(j + n) or "",))
            if word is not None and word.slot == "mode":
                mode = word.value
                n += 1
            elif self.low(j + n) in lx.MODE_SUFFIXES:
                mode = lx.MODE_SUFFIXES[self.low(j + n)]
                n += 1
        if not (accidental or mode or self.bare_letter_is_key(j, cue, after_in)):
            return None
        return n, letter.upper() + accidental, mode

    def bare_letter_is_key(self, j: int, cue: bool, after_in: bool) -> bool:
        """A letter alone: a key after a cue or as a capital B..G; "a" only where it cannot be the article."""
        tok = self.t[j]
        if tok.low != "a":
            return cue or tok.text.isupper()
        if not cue:
            return False
        ends = j + 1 >= len(self.t) or self.t[j + 1].kind == "punct"
        return tok.text == "A" or ends or not after_in

    def numbers(self, i: int) -> int:
        for cues, slot in ((lx.TEMPO_CUES, "tempo"), (lx.TEMPERATURE_CUES, "temperature")):
            cue = self.phrase_at(i, cues)
            if cue:
                j = i + cue
                while self.low(j) in SKIPPED_BEFORE_NUMBER:
                    j += 1
                if j < len(self.t) and self.t[j].kind == "number":
                    unit = self.phrase_at(j + 1, lx.TEMPO_UNITS) if slot == "tempo" else 0
                    return self.number(slot, i, j, j + 1 + unit)
        tok = self.t[i]
        if tok.kind == "number":
            unit = self.phrase_at(i + 1, lx.TEMPO_UNITS)
            direction = self.relative_direction(i + 1 + unit)
            if direction:
                self.emit("tempo", "delta", direction * tok.number)
                self.pending.clear()
                return unit + 2
            if unit:
                return self.number("tempo", i, i, i + 1 + unit)
            return 0
        direction = self.relative_direction(i)
        if direction and self.low(i + 1) == "by" and i + 2 < len(self.t) and self.t[i + 2].kind == "number":
            self.emit("tempo", "delta", direction * self.t[i + 2].number)
            self.pending.clear()
            return 3 + self.phrase_at(i + 3, lx.TEMPO_UNITS)
        return 0

    def relative_direction(self, i: int) -> int:
        """+1 for "faster", -1 for "slower" at token i, else 0."""
        word = lx.PHRASES.get((self.low(i) or "",))
        return int(word.value) if word is not None and word.slot == "tempo" and word.kind == "rel" else 0

    def number(self, slot: str, start: int, at: int, end: int) -> int:
        """Tokens start..end name `slot` = the number at token `at`, if in range; else they are not understood."""
        value = self.t[at].number
        lo, hi = lx.RANGE[slot]
        if lo <= value <= hi:
            self.setting(slot, "number", round(value) if slot == "tempo" else value)
        else:
            self.out.unknown.extend(k for k in range(start, end) if self.t[k].low not in lx.STOP_WORDS)
        return end - start

    def bare_number(self, i: int) -> int:
        tok = self.t[i]
        lo, hi = lx.BARE_TEMPO
        if tok.kind == "number" and tok.number == int(tok.number) and lo <= tok.number <= hi:
            self.setting("tempo", "number", int(tok.number))
            return 1
        return 0

    def parts(self, i: int) -> int:
        op = self.words_at(i, lx.PART_OPS)
        if op is not None:
            n, word = op
            names, used = self.part_list(i + n)
            if names:
                self.emit("parts", word.kind, names)
                self.pending.clear()
                return n + used
            return 0
        names, used = self.part_list(i)
        if not names:
            return 0
        if self.is_subject(i + used):
            return used
        if self.low(i + used) in lx.ONLY_AFTER:
            self.emit("parts", "only", names)
            return used + 1
        if self.low(i + used) in lx.REMOVE_AFTER:
            self.emit("parts", "remove", names)
            return used + 1
        if names == ("bass", "chords") and self.low(i) == "bass" and used == 3 and self.low(i + 1) in ("and", "&", "+"):
            self.setting("style", "set", "band")  # the phrase "bass and chords"
            return used
        self.emit("parts", "add", names)
        return used

    def is_subject(self, i: int) -> bool:
        """True if a style_knob or density word follows at token i, past more, less and degrees."""
        found = self.words_at(i, lx.PHRASES)
        while found is not None and found[1].kind in ("more", "degree", "rel_degree"):
            i += found[0]
            found = self.words_at(i, lx.PHRASES)
        return found is not None and found[1].slot in lx.SUBJECT_OF

    def part_list(self, i: int) -> tuple[tuple[str, ...], int]:
        """Part names from token i, joined by and , & + or the: (names, tokens used up to the last name)."""
        names: list[str] = []
        j = end = i
        while j < len(self.t):
            if self.t[j].low in lx.PART_JOINERS:
                j += 1
                continue
            found = self.words_at(j, lx.PART_NAMES)
            if found is None:
                break
            n, word = found
            names.append(str(word.value))
            j = end = j + n
        return tuple(dict.fromkeys(names)), end - i

    def phrase(self, i: int) -> int:
        found = self.words_at(i, lx.PHRASES)
        if found is None:
            return 0
        n, word = found
        if word.slot == "mod":
            self.pending.append(_Mod(word.kind, word.value, tuple(range(i, i + n))))
            return n
        self.setting(word.slot, word.kind, word.value)
        if tuple(tok.low for tok in self.t[i:i + n]) == lx.FULL_BAND:
            self.emit("parts", "all", ())
        if word.kind == "rel":
            n += self.degree_after(i + n)
        return n

    def degree_after(self, i: int) -> int:
        """A degree right after a relative word ("slow down a bit") sizes its step: tokens used."""
        found = self.words_at(i, lx.PHRASES)
        last = self.out.events[-1] if self.out.events else None
        if found is None or found[1].kind not in ("degree", "rel_degree") or last is None or last.kind != "rel" or last.factor != 1.0:
            return 0
        n, word = found
        factor = lx.REL_WEAK if float(word.value) < 1 else lx.REL_STRONG
        self.out.events[-1] = Event(last.slot, last.kind, last.value, factor)
        return n

    def setting(self, slot: str, kind: str, value: object) -> None:
        """Emit one setting word's event, as the pending modifiers change it."""
        neg, more = self.take("neg"), self.take("more")
        degree = self.take("degree")
        rel_degree = self.take("rel_degree")
        self.pending.clear()
        graded = slot in lx.GRADED
        if kind == "set" and graded and more is not None:
            kind, value = "rel", more.value * (1 if float(value) >= lx.MIDDLE[slot] else -1)
        if kind == "rel":
            if neg is not None:
                return  # "not faster": no change
            factor = rel_degree.value if rel_degree else (lx.REL_STRONG if degree and degree.value > 1 else
                                                          lx.REL_WEAK if degree else 1.0)
            self.emit(slot, "rel", value, float(factor))
        elif neg is not None:
            self.emit(slot, "neg", value)
        else:
            self.emit(slot, kind, value, float(degree.value) if degree and graded and kind == "set" else 1.0)
