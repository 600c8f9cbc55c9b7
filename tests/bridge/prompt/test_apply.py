"""A prompt's settings into a Config: what is applied, what a flag keeps, and one line for the rest."""

from __future__ import annotations

import pytest

from sideman.bridge.config import Config
from sideman.bridge.errors import ConfigError
from sideman.bridge.prompt import parse_prompt
from sideman.bridge.prompt.apply import apply_prompt, current_settings

PARTS = ("alto", "tenor", "bass")


def apply(text: str, config: Config = Config(), **kw):
    return apply_prompt(config, parse_prompt(text, current_settings(config, PARTS)), PARTS, **kw)


def test_temperature_and_parts_go_into_the_config():
    config, lines = apply("safe, just bass")
    assert config.engine.temperature == 0.4 and config.parts.mute == ("alto", "tenor")
    assert lines == ["prompt: temperature 0.4, parts bass (alto, tenor muted)"]


def test_relative_words_start_from_the_config_and_the_model_parts():
    config, _ = apply("a bit wilder, no tenor", Config().replace("engine", temperature=1.0))
    assert config.engine.temperature == 1.1 and config.parts.mute == ("tenor",)


def test_a_flag_given_wins_and_says_so():
    config, lines = apply("wild", Config().replace("engine", temperature=0.9), given=("temperature",))
    assert config.engine.temperature == 0.9
    assert lines == ["prompt: temperature 1.5 not used: the flag given wins"]


def test_settings_not_used_yet_are_one_line_and_the_key_goes_to_the_engine():
    config, lines = apply("slow sad waltz in D minor, just bass and chords, with drums",
                          kept={"tempo": "the file's tempo map is kept"})
    assert config.parts.mute == ("alto", "tenor") and config.engine.key == "D minor"
    assert lines == [
        "prompt: key D minor, parts bass (alto, tenor muted); the model has no chords part (its parts: alto, tenor, bass)",
        "prompt: tempo 72 not used: the file's tempo map is kept",
        "prompt: not applied by this version yet: meter 3/4, style band, density 0.4",
        "prompt: not understood: drums",
    ]


@pytest.mark.parametrize("text, says", [("just chords", "asks for chords only"), ("no alto, no tenor, no bass", "mutes every part")])
def test_a_prompt_that_leaves_nothing_to_play_is_a_config_error(text, says):
    with pytest.raises(ConfigError, match=f"the prompt {says}: nothing would play"):
        apply(text)


def test_a_prompt_naming_nothing_changes_nothing():
    assert apply("please") == (Config(), [])
