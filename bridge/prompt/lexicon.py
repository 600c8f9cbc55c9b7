"""The prompt grammar's words, as data: docs/prompts.md is the same tables in prose.

Phrases are tuples of lower-case words; a hyphenated word arrives split ("up-tempo" is "up", "tempo").
"""

from __future__ import annotations

from dataclasses import dataclass

# The graded settings: the value "not X" and relative changes start from when nothing is current,
# the size of one relative step, and the range results are clipped to.
MIDDLE = {"tempo": 100.0, "style_knob": 0.5, "density": 0.5, "register": 1.0, "temperature": 0.7}
STEP = {"tempo": 12.0, "style_knob": 0.2, "density": 0.2, "register": 1.0, "temperature": 0.2}
RANGE = {"tempo": (20.0, 300.0), "style_knob": (0.0, 1.0), "density": (0.0, 1.0), "register": (0.0, 2.0),
         "temperature": (0.05, 5.0)}
GRADED = tuple(MIDDLE)
REGISTERS = ("low", "middle", "high")  # register levels 0, 1, 2

STRONG, WEAK = 1.5, 0.5  # how far "very" / "a bit" take an absolute word from the middle
REL_STRONG, REL_WEAK = 2.0, 0.5  # how far "much" / "a bit" take a relative step
MOOD_TEMPO, MOOD_DENSITY = 10.0, 0.1  # what a happy (+) or sad (-) mood moves
MOOD_THRESHOLD = 0.05  # VADER's own line between neutral and a sentiment


@dataclass(frozen=True)
class Word:
    """What a phrase means: `slot` and `kind` ("set", "rel", "scale", "op", "part", "mod")."""

    slot: str
    kind: str
    value: object = None


def _table(slot: str, kind: str, groups: dict[object, str]) -> dict[tuple[str, ...], Word]:
    """{value: "phrase, phrase"} -> {phrase words: Word}."""
    return {tuple(p.split()): Word(slot, kind, value) for value, phrases in groups.items() for p in phrases.split(", ")}


PHRASES: dict[tuple[str, ...], Word] = {
    **_table("tempo", "set", {
        50: "largo, grave", 56: "lento", 66: "adagio, ballad", 72: "slow, lullaby", 84: "andante",
        88: "relaxed, laid back, easy, easygoing",
        100: "medium, moderate, moderato, mid tempo, midtempo, medium tempo",
        126: "allegro, lively", 138: "fast, quick, brisk", 152: "up tempo, uptempo", 160: "vivace", 176: "presto"}),
    **_table("tempo", "rel", {1: "faster, quicker, speed up, pick up the pace, pick it up", -1: "slower, slow down"}),
    **_table("tempo", "scale", {2.0: "double time, twice as fast", 0.5: "half time, half as fast, twice as slow"}),
    **_table("meter", "set", {
        "2/2": "in 2, in two, cut time, alla breve",
        "3/4": "in 3, in three, three four, triple time, triple meter, waltz, waltzes, minuet, mazurka",
        "4/4": "in 4, in four, four four, common time, reel, hornpipe",
        "2/4": "march, polka", "6/8": "in 6, in six, six eight, jig, compound time"}),
    **_table("mode", "set", {"minor": "minor, dorian, phrygian, aeolian, locrian",
                             "major": "major, ionian, lydian, mixolydian"}),
    **_table("style", "set", {
        "chorale": "chorale, chorales, hymn, hymns, choir, choral, church, satb, four part, 4 part, bach",
        "band": "band, full band, folk band, folk, combo, rhythm section"}),
    **_table("style_knob", "set", {
        0.1: "sustained, held, hold, long notes, pads, legato, smooth", 0.5: "flowing, walking, walking bass, walk, walks",
        0.8: "arpeggio, arpeggios, arpeggiated, broken chords, fingerpicked, fingerpicking, picked",
        0.9: "driving, rhythmic, pulsing, chugging, punchy, pumping"}),
    **_table("style_knob", "rel", {1: "more movement, more motion", -1: "less movement, less motion, smoother"}),
    **_table("density", "set", {0.1: "minimal, bare", 0.2: "sparse, spare", 0.3: "light, thin, simple",
                                0.7: "full, dense, thick, rich", 0.8: "busy"}),
    **_table("density", "rel", {1: "busier, denser, fuller, thicker, more notes",
                                -1: "sparser, thinner, simpler, fewer notes, less notes, more space, thin out, thin it out"}),
    **_table("register", "set", {0: "low, deep, down low, low register", 1: "middle, mid, mid range, midrange, middle register",
                                 2: "high, up high, high register"}),
    **_table("register", "rel", {1: "higher, higher register, an octave up, up an octave",
                                 -1: "lower, lower register, an octave down, down an octave"}),
    **_table("temperature", "set", {0.4: "safe, conservative, predictable, careful, tame",
                                    1.1: "creative, adventurous, experimental, surprising, bold, daring",
                                    1.5: "wild, crazy, chaotic, unpredictable"}),
    **_table("temperature", "rel", {-1: "safer, tamer", 1: "wilder, bolder, crazier"}),
    **_table("parts", "all", {"": "all parts, all the parts, all voices, all the voices, everyone, everybody, tutti"}),
    **_table("mod", "neg", {"": "not, no, don't, dont, never, not so, not too, not very"}),
    **_table("mod", "degree", {STRONG: "very, really, super, extremely",
                               WEAK: "a bit, a little, a touch, slightly, somewhat, kind of, kinda, sort of, bit, little, tad"}),
    **_table("mod", "rel_degree", {REL_STRONG: "much, a lot, lots, way, far"}),
    **_table("mod", "more", {1: "more", -1: "less"}),
}
# The parts' names, and the words before a list of them (they mean something else before other words).
PART_NAMES = _table("parts", "part", {"alto": "alto, altos", "tenor": "tenor, tenors",
                                      "bass": "bass, basses, bass line, bassline, bass lines", "chords": "chords, chord, comping"})
PART_OPS = {**_table("parts", "only", {"": "just, only, solo, nothing but, everything but, everyone but, everybody but, all but, "
                                                "drop everything but, mute everything but, everything except, everyone except, "
                                                "everybody except, all except, drop everything except, "
                                                "mute everything except"}),
            **_table("parts", "remove", {"": "no, no more, not, without, mute, drop, lose, minus, cut, silence"}),
            **_table("parts", "add", {"": "add, with, plus, bring back, bring in, unmute"})}
# Two meanings: "full band" is the band style with all its parts.
FULL_BAND = ("full", "band")

PART_ORDER = ("alto", "tenor", "bass", "chords")
STYLE_PARTS = {"chorale": ("alto", "tenor", "bass"), "band": ("bass", "chords")}
DEFAULT_STYLE = "chorale"  # the shipped model's
PART_STYLE = {"alto": "chorale", "tenor": "chorale", "chords": "band"}  # parts only one style has
SUBJECT_OF = ("style_knob", "density")  # "the bass more rhythmic": the part is the knob's subject
ONLY_AFTER = ("only", "alone")  # "bass only"
REMOVE_AFTER = ("out",)  # "keep the tenor out"
PART_JOINERS = ("and", "&", "+", "or", ",", "the")

# Tempo and temperature numbers: words before the number, words after it.
TEMPO_UNITS = (("bpm",), ("beats", "per", "minute"), ("beats", "a", "minute"), ("beats", "per", "min"))
TEMPO_CUES = (("bpm",), ("tempo",), ("tempo", "of"), ("tempo", "at"), ("at",), ("@",),
              ("quarter",), ("quarter", "note"), ("crotchet",))  # the last three: metronome marks
TEMPERATURE_CUES = (("temperature",), ("temperature", "of"), ("temp",))
BARE_TEMPO = (40, 240)  # a number no rule claims, in this range, is a tempo
METER_DENOMINATORS = (1, 2, 4, 8, 16)
TONICS = "abcdefg"
ACCIDENTALS = {"#": "#", "♯": "#", "sharp": "#", "b": "b", "♭": "b", "flat": "b"}
MODE_SUFFIXES = {"m": "minor", "min": "minor", "maj": "major"}
KEY_CUES = (("in",), ("key",), ("key", "of"))

# Music moods VADER's lexicon lacks (VADER's scale: -4..4).
MOOD_WORDS = {"dark": -1.5, "darker": -1.5, "upbeat": 2.0, "uplifting": 2.0, "wistful": -1.0}
# Arousal, which VADER's pleasantness misses: these words move tempo and density, calm -1, energetic +1.
AROUSAL = {**dict.fromkeys("calm calmer peaceful gentle serene tranquil soothing relaxing mellow dreamy sleepy".split(), -1),
           **dict.fromkeys("energetic energized excited exciting intense fierce fiery frantic agitated angry "
                           "aggressive".split(), 1)}

STOP_WORDS = frozenset("""
a an the and or but in at to of for on with by it its it's is be this that please thanks thank ok okay can
could would you we me us i let's lets make keep give play playing go going some something song tune piece
music feel vibe style sound sounding kind sort like want let now then too so quite pretty back switch more less
bit little time tempo key parts part voices nice good great cool just only again even also very really not no
groove rhythm
""".split())
