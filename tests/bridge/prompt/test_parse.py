"""The prompt grammar, rule by rule (docs/prompts.md)."""

from __future__ import annotations

import json

import pytest

from sideman.bridge.prompt import SLOTS, PromptSettings, parse_prompt
from sideman.bridge.prompt import lexicon as lx
from tests.paths import REPO


def named(text: str, **current) -> dict:
    if "parts" in current:
        current["parts"] = tuple(current["parts"])
    got = parse_prompt(text, PromptSettings(**current) if current else None)
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in got.named().items()}
    if got.not_understood:
        out["not_understood"] = list(got.not_understood)
    return out


@pytest.mark.parametrize("text, tempo", [
    ("120 bpm", 120), ("120bpm", 120), ("at 90", 90), ("@ 95", 95), ("bpm 132", 132), ("tempo 84", 84),
    ("tempo of 70", 70), ("tempo: 92", 92), ("100 beats per minute", 100), ("100 beats a minute", 100),
    ("swing, 90", 90), ("slow", 72), ("ballad", 66), ("medium", 100), ("mid-tempo", 100), ("fast", 138),
    ("up-tempo", 152), ("uptempo", 152), ("laid back", 88), ("presto", 176), ("largo", 50),
    ("very slow", 58), ("a bit slow", 86), ("60 bpm ballad", 60), ("ballad at 60", 60),
])
def test_tempo_numbers_with_units_and_words(text, tempo):
    got = named(text)
    got.pop("not_understood", None)  # "swing"
    assert got == {"tempo": tempo}


@pytest.mark.parametrize("text", ["at 500 bpm", "10 bpm"])
def test_a_tempo_outside_the_range_is_not_understood(text):
    got = parse_prompt(text)
    assert got.tempo is None and got.not_understood == tuple(w for w in text.split() if w != "at")


@pytest.mark.parametrize("text, now, tempo", [
    ("faster", 100, 112), ("slower", 100, 88), ("a bit slower", 100, 94), ("slow down a bit", 100, 94),
    ("much faster", 90, 114), ("10 bpm faster", 100, 110), ("slower by 20", 120, 100), ("15 slower", 100, 85),
    ("double time", 80, 160), ("half time", 140, 70), ("faster, faster", 100, 124), ("speed up", 290, 300),
])
def test_relative_tempo_changes_start_from_the_current_tempo(text, now, tempo):
    assert named(text, tempo=now) == {"tempo": tempo}


def test_relative_changes_without_a_current_value_start_from_the_middle():
    assert named("faster") == {"tempo": 112}
    assert named("busier") == {"density": 0.7}
    assert named("wilder") == {"temperature": 0.9}


@pytest.mark.parametrize("text, meter", [
    ("3/4", "3/4"), ("6/8", "6/8"), ("12/8", "12/8"), ("3 / 4", "3/4"), ("waltz", "3/4"), ("in three", "3/4"),
    ("in 3", "3/4"), ("in four", "4/4"), ("common time", "4/4"), ("cut time", "2/2"), ("jig", "6/8"),
    ("march", "2/4"), ("not a waltz", "4/4"), ("not in 3/4", "4/4"),
])
def test_meter(text, meter):
    assert named(text) == {"meter": meter}


def test_a_meter_that_is_no_meter_is_not_understood():
    assert named("3/5") == {"not_understood": ["3/5"]}


@pytest.mark.parametrize("text, key", [
    ("D minor", "D minor"), ("d minor", "D minor"), ("in e", "E major"), ("Bb major", "Bb major"),
    ("B flat major", "Bb major"), ("b-flat", "Bb major"), ("F sharp minor", "F# minor"), ("F# minor", "F# minor"),
    ("F#m", "F# minor"), ("Dm", "D minor"), ("Ebm", "Eb minor"), ("key of A", "A major"), ("key: Ab", "Ab major"),
    ("in a minor", "A minor"), ("in a", "A major"), ("G", "G major"), ("D dorian", "D minor"),
    ("G mixolydian", "G major"), ("C♯ minor", "C# minor"), ("E♭", "Eb major"),
])
def test_key_spellings(text, key):
    assert named(text) == {"key": key, "mode": key.split()[1]}


@pytest.mark.parametrize("text", ["a slow waltz", "in a waltz feel", "I am here", "em", "be bold", "d"])
def test_words_that_look_like_keys_are_not_keys(text):
    assert parse_prompt(text).key is None


def test_a_key_without_its_mode_takes_the_mood_then_the_current_key():
    assert named("sad, in e")["key"] == "E minor"
    assert named("in e", key="D minor")["key"] == "E minor"
    assert named("minor", key="D major") == {"key": "D minor", "mode": "minor"}
    assert named("not minor") == {"mode": "major"}


@pytest.mark.parametrize("text, style", [
    ("chorale", "chorale"), ("hymn", "chorale"), ("choir", "chorale"), ("band", "band"), ("folk band", "band"),
    ("bass and chords", "band"), ("bass & chords", "band"), ("back to chorale", "chorale"), ("not a hymn", "band"),
])
def test_style(text, style):
    assert named(text) == {"style": style}


@pytest.mark.parametrize("text, knob", [
    ("sustained", 0.1), ("walking", 0.5), ("arpeggio", 0.8), ("arpeggiated", 0.8), ("driving", 0.9),
    ("very driving", 1.0), ("no arpeggios", 0.5),
])
def test_style_knob(text, knob):
    assert named(text) == {"style_knob": knob}


@pytest.mark.parametrize("text, current, density", [
    ("sparse", None, 0.2), ("busy", None, 0.8), ("very busy", None, 0.95), ("very sparse", None, 0.05),
    ("busier", 0.5, 0.7), ("a bit busier", 0.5, 0.6), ("sparser", 0.5, 0.3), ("more busy", 0.5, 0.7),
    ("less busy", 0.5, 0.3), ("not so busy", 0.8, 0.5), ("not so busy", 0.3, 0.3), ("not busy", None, 0.5),
    ("busier", 0.95, 1.0),
])
def test_density_with_negation_and_relatives(text, current, density):
    assert named(text, **({} if current is None else {"density": current})) == {"density": density}


@pytest.mark.parametrize("text, current, register", [
    ("low", None, "low"), ("high", None, "high"), ("deep", None, "low"), ("higher", "middle", "high"),
    ("higher", "high", "high"), ("lower", "high", "middle"), ("not too low", "low", "middle"),
])
def test_register(text, current, register):
    assert named(text, **({} if current is None else {"register": current})) == {"register": register}


@pytest.mark.parametrize("text, current, temperature", [
    ("safe", None, 0.4), ("adventurous", None, 1.1), ("wild", None, 1.5), ("temperature 0.9", None, 0.9),
    ("temp=1.2", None, 1.2), ("safer", 1.1, 0.9), ("a little safer", 1.1, 1.0), ("more adventurous", 0.7, 0.9),
    ("not so wild", 1.5, 0.7), ("very safe", None, 0.25),
])
def test_temperature(text, current, temperature):
    assert named(text, **({} if current is None else {"temperature": current})) == {"temperature": temperature}


@pytest.mark.parametrize("text, current, parts", [
    ("just bass and chords", None, ["bass", "chords"]),
    ("only bass", None, ["bass"]),
    ("bass only", None, ["bass"]),
    ("no tenor", None, ["alto", "bass"]),
    ("without alto or tenor", None, ["bass"]),
    ("drop the alto", ["alto", "tenor", "bass"], ["tenor", "bass"]),
    ("bring back the tenor", ["alto", "bass"], ["alto", "tenor", "bass"]),
    ("keep the tenor out", None, ["alto", "bass"]),
    ("drop everything but the bass", None, ["bass"]),
    ("no bass", ["bass"], []),
])
def test_parts(text, current, parts):
    got = parse_prompt(text, PromptSettings(parts=tuple(current)) if current else None)
    assert got.parts == tuple(parts) and got.not_understood == ()


def test_parts_without_a_current_list_start_from_the_style():
    assert parse_prompt("no bass, band").parts == ("chords",)
    assert parse_prompt("add chords").parts == ("bass", "chords") and parse_prompt("add chords").style == "band"
    assert parse_prompt("tutti", PromptSettings(style="band", parts=("bass",))).parts == ("bass", "chords")


def test_a_new_style_parts_words_start_from_its_own_parts_not_the_old_styles():
    chorale = PromptSettings(style="chorale", parts=("alto", "tenor", "bass"))
    assert parse_prompt("folk band, no chords", chorale).parts == ("bass",)
    assert parse_prompt("chorale, no tenor", PromptSettings(style="band", parts=("bass",))).parts == ("alto", "bass")
    assert parse_prompt("no tenor", PromptSettings(parts=("alto", "bass"))).parts == ("alto", "bass")  # same style


@pytest.mark.parametrize("text, unknown", [
    ("swing feel, 140", ["swing"]), ("just bass and drums", ["drums"]), ("jazz trio", ["jazz", "trio"]),
    ("extremely jazzy", ["extremely", "jazzy"]), ("a bit louder", ["louder"]), ("Reggae in G", ["Reggae"]),
    ("mute", ["mute"]), ("temperature 9", ["temperature", "9"]),
])
def test_every_word_not_understood_is_named_as_typed(text, unknown):
    assert list(parse_prompt(text).not_understood) == unknown


def test_stop_words_are_passed_over_and_all_in_the_doc():
    assert named("please play it for me, the song and the tune") == {}
    listed = (REPO / "docs" / "prompts.md").read_text(encoding="utf-8").split("### Stop words")[1].split("## Evaluation")[0]
    for word in lx.STOP_WORDS:
        assert f" {word}," in listed or f" {word}." in listed or f"\n{word}," in listed, word


def test_mood_sets_mode_tempo_and_density_only_where_the_text_names_none():
    assert named("sad") == {"tempo": 90, "mode": "minor", "density": 0.4}
    assert named("happy") == {"tempo": 110, "mode": "major", "density": 0.6}
    assert named("dark and slow") == {"tempo": 72, "mode": "minor", "density": 0.4}
    assert named("not sad")["mode"] == "major"
    assert named("happy", tempo=80, density=0.3) == {"tempo": 90, "mode": "major", "density": 0.4}
    assert named("sad", key="G major")["key"] == "G minor"


def test_the_issue_example():
    got = parse_prompt("slow sad waltz in D minor, just bass and chords")
    assert got == PromptSettings(tempo=72, meter="3/4", key="D minor", mode="minor", style="band", density=0.4,
                                 parts=("bass", "chords"))


def test_to_json_has_every_key_and_null_for_what_is_not_named():
    doc = json.loads(parse_prompt("fast, no tenor, bloop").to_json())
    assert list(doc) == [*SLOTS, "not_understood"]
    assert doc["tempo"] == 138 and doc["parts"] == ["alto", "bass"] and doc["not_understood"] == ["bloop"]
    assert all(doc[k] is None for k in SLOTS if k not in ("tempo", "parts"))


def test_over_replaces_only_what_the_prompt_names():
    now = PromptSettings(tempo=100, density=0.5, parts=("alto", "tenor", "bass"))
    assert parse_prompt("busier, no tenor", now).over(now) == PromptSettings(tempo=100, density=0.7, parts=("alto", "bass"))


def test_no_phrase_has_two_meanings():
    tables = [lx.PHRASES, lx.PART_NAMES, lx.PART_OPS]
    seen: dict = {}
    for table in tables:
        for phrase in table:
            assert phrase not in seen or phrase in (("no",), ("not",)), phrase  # parts before a part, negation otherwise
            seen[phrase] = table


@pytest.mark.parametrize("text, words", [
    ("calm", {"tempo": 90, "density": 0.4, "mode": "major"}),  # VADER: pleasant, so major; calm: slow and sparse
    ("peaceful hymn", {"tempo": 90, "density": 0.4, "mode": "major", "style": "chorale"}),
    ("mellow", {"tempo": 90, "density": 0.4}),  # VADER lacks it: no mode
    ("angry", {"tempo": 110, "density": 0.6, "mode": "minor"}),  # unpleasant but energetic
    ("energetic but calm", {"mode": "major"}),  # a tie moves neither tempo nor density
    ("not calm", {"tempo": 110, "density": 0.6, "mode": "minor"}),
])
def test_calm_and_energetic_words_decide_pace_and_vader_the_mode(text, words):
    assert named(text) == words


@pytest.mark.parametrize("text, now, tempo", [
    ("twice as fast", 80, 160), ("half as fast", 140, 70), ("twice as slow", 100, 50),
    ("quarter = 88", None, 88), ("quarter note = 72", None, 72), ("crotchet: 104", None, 104),
    ("a gentle lullaby", None, 72),
])
def test_tempo_multiples_metronome_marks_and_lullaby(text, now, tempo):
    assert named(text, **({"tempo": now} if now else {}))["tempo"] == tempo


@pytest.mark.parametrize("text, current, parts", [
    ("drop everything except the bass", {}, ["bass"]),
    ("everything except alto and tenor", {}, ["alto", "tenor"]),
    ("no more alto", {"parts": ["alto", "tenor", "bass"]}, ["tenor", "bass"]),
])
def test_except_and_no_more(text, current, parts):
    assert named(text, **current)["parts"] == parts


@pytest.mark.parametrize("text, current, got", [
    ("let the bass walk", {}, {"style_knob": 0.5}),
    ("make the bass more rhythmic", {"style_knob": 0.5}, {"style_knob": 0.7}),
    ("the chords a bit sparser", {"density": 0.5}, {"density": 0.4}),
    ("the chords, sparser", {"density": 0.5}, {"density": 0.3, "parts": ["bass", "chords"], "style": "band"}),
])
def test_a_part_before_how_it_moves_is_its_subject_not_a_part_to_add(text, current, got):
    assert named(text, **current) == got


def test_register_as_a_noun_after_a_relative_register_word():
    assert named("higher register", register="middle") == {"register": "high"}
    assert named("lower register", register="middle") == {"register": "low"}
