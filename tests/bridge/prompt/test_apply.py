"""A prompt's settings into a Config: what is applied, what a flag keeps, what the other style has, one line for the rest."""

from __future__ import annotations

import pytest

from sideman.bridge.config import Config
from sideman.bridge.errors import ConfigError
from sideman.bridge.prompt import parse_prompt
from sideman.bridge.prompt.apply import apply_prompt, current_settings

PARTS = ("alto", "tenor", "bass")
CHORALE = {"chorale": PARTS}
BOTH = {"chorale": PARTS, "band": ("bass", "comping")}


def apply(text: str, config: Config = Config(), styles=CHORALE, **kw):
    return apply_prompt(config, parse_prompt(text, current_settings(config, styles)), styles, **kw)


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
    assert config.parts.mute == ("alto", "tenor") and config.engine.key == "D minor" and config.engine.style == "chorale"
    assert lines == [
        "prompt: key D minor, parts bass (alto, tenor muted); the model has no chords part (its parts: alto, tenor, bass)",
        "prompt: tempo 72 not used: the file's tempo map is kept",
        "prompt: style band not used: this command has no band style",
        "prompt: not used by the chorale style: density 0.4 (only the band style has them)",
        "prompt: not applied by this version yet: meter 3/4",
        "prompt: not understood: drums",
    ]


def test_a_band_prompt_picks_the_band_with_its_density_and_parts_and_leaves_the_key():
    config, lines = apply("slow sad waltz in D minor, just bass and chords, with drums", styles=BOTH,
                          kept={"tempo": "the file's tempo map is kept"})
    assert (config.engine.style, config.band.density, config.parts.mute, config.engine.key) == ("band", 0.4, (), "")
    assert lines == [
        "prompt: style band, density 0.4, parts bass, comping",
        "prompt: tempo 72 not used: the file's tempo map is kept",
        "prompt: not used by the band style: key D minor (the band keeps to the chords it hears, not to a key)",
        "prompt: not applied by this version yet: meter 3/4",
        "prompt: not understood: drums",
    ]


def test_band_words_set_the_knob_and_start_from_the_band_config():
    band = Config().replace("engine", style="band").replace("band", knob=0.2, density=0.5)
    config, lines = apply("busier, more movement, no chords", band, styles=BOTH)
    assert (config.band.knob, config.band.density, config.parts.mute) == (0.4, 0.7, ("comping",))
    assert lines == ["prompt: style_knob 0.4, density 0.7, parts bass (comping muted)"]
    config, _ = apply("folk band, walking bass, no chords", styles=BOTH)  # from the chorale: the band's parts
    assert (config.engine.style, config.band.knob, config.parts.mute) == ("band", 0.5, ("comping",))


def test_a_style_flag_wins_and_the_chorale_then_has_no_knob():
    config, lines = apply("band, busier", styles=BOTH, given=("style",))
    assert config.engine.style == "chorale" and config.band.density == 0.5
    assert lines == ["prompt: style band not used: the flag given wins",
                     "prompt: not used by the chorale style: density 0.7 (only the band style has them; say band)"]


@pytest.mark.parametrize("text, says", [("just chords", "asks for chords only"), ("no alto, no tenor, no bass", "mutes every part")])
def test_a_prompt_that_leaves_nothing_to_play_is_a_config_error(text, says):
    with pytest.raises(ConfigError, match=f"the prompt {says}: nothing would play"):
        apply(text)


def test_a_prompt_naming_nothing_changes_nothing():
    assert apply("please") == (Config(), [])
