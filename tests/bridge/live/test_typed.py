"""Lines typed while Sideman plays change what plays: parts, tempo, temperature, the style and the band's knob and
density; the rest is named, never dropped."""

from __future__ import annotations

import pytest

from sideman.bridge.cli import build_parser, config_from_args, flags_given, run_prompt
from sideman.bridge.config import Config
from sideman.bridge.core.clock import InternalClock
from sideman.bridge.live.typed import typed_line
from tests.bridge.live.test_loop import feed, make_bridge, play_clock, sounding
from tests.bridge.live.test_loop_band import make_band_bridge


def run_change(change):
    assert change is not None
    change()


def test_only_bass_mutes_the_other_parts_and_back_again():
    bridge, _ = make_bridge()
    names = bridge.engine.contract.part_names
    change, said = typed_line("only bass", bridge)
    run_change(change)
    assert [bridge.engine.muted(k) for k in range(len(names))] == [name != names[-1] for name in names]
    assert f"-> {names[-1]}" in said
    change, _ = typed_line(f"with {' and '.join(names)}", bridge)
    run_change(change)
    assert not any(bridge.engine.muted(k) for k in range(len(names)))


def test_a_tempo_with_its_unit_changes_the_internal_clock_and_says_so():
    bridge, _ = make_bridge(clock="internal")
    change, said = typed_line("120 bpm", bridge)
    run_change(change)
    assert bridge.internal.bpm == 120 and "tempo 100 -> 120 BPM" in said


def test_relative_words_start_from_what_plays_now():
    bridge, _ = make_bridge()
    before = bridge.engine.temperature
    change, said = typed_line("wilder", bridge)
    run_change(change)
    assert bridge.engine.temperature > before and "temperature" in said


def test_what_cannot_change_while_playing_and_words_not_understood_are_named():
    bridge, _ = make_bridge()
    change, said = typed_line("waltz with kazoos", bridge)
    assert change is None
    assert "not changed while playing: meter 3/4 (the clock's bar is set at start)" in said and "not understood: kazoos" in said


def test_a_new_tempo_keeps_the_next_tick_where_it_was_and_spaces_the_rest_anew():
    clock = InternalClock(120.0)
    clock.start(10.0)
    assert clock.due(10.0).t == 10.0
    due = clock.next_tick_time()
    clock.set_bpm(60.0)
    assert clock.next_tick_time() == pytest.approx(due)
    clock.due(due)
    assert clock.next_tick_time() == pytest.approx(due + 0.25)


def test_run_prompt_puts_the_words_into_the_config_and_a_flag_wins(capsys):
    config = run_prompt(Config(), "slow and safe, just the bass", {"chorale": ("alto", "tenor", "bass")})
    assert config.parts.mute == ("alto", "tenor") and config.engine.temperature < Config().engine.temperature
    assert config.bridge.tempo < Config().bridge.tempo
    flagged = run_prompt(Config().replace("bridge", tempo=140.0), "slow", {"chorale": ("alto", "tenor", "bass")}, given=("tempo",))
    assert flagged.bridge.tempo == 140.0
    assert "the flag given wins" in capsys.readouterr().out


def test_run_flags_for_key_style_and_tempo_win_over_the_prompt(capsys):
    parser, _ = build_parser(["run"])
    args = parser.parse_args(["run", "--key", "e minor", "--style", "chorale", "--tempo", "90", "--prompt", "band in D, slow"])
    config = run_prompt(config_from_args(args), args.prompt, {"chorale": ("alto", "tenor", "bass"), "band": ("bass", "comping")},
                        given=flags_given(args))
    assert (config.engine.key, config.engine.style, config.bridge.tempo) == ("e minor", "chorale", 90.0)
    assert capsys.readouterr().out.count("the flag given wins") == 3
    args = parser.parse_args(["run", "--key", "e minor", "--prompt", "in D"])
    config = run_prompt(config_from_args(args), args.prompt, {"chorale": ("alto", "tenor", "bass")}, given=flags_given(args))
    assert config.engine.key == "e minor"


# -- the band style ------------------------------------------------------------------------------------

def test_style_words_switch_between_the_loaded_band_and_chorale_and_end_the_old_notes():
    bridge, out, _ = make_band_bridge()
    feed(bridge, [0xFA], 0.0)
    feed(bridge, [0x90, 67, 100], 0.0)
    t = play_clock(bridge, 30, 0.0)
    assert {ch for ch, _ in sounding(out.sent)} == {1, 2}
    change, said = typed_line("chorale", bridge)
    run_change(change)
    assert bridge.active == 1 and sounding(out.sent) == set() and said == "'chorale': style band -> chorale"
    feed(bridge, [0x90, 69, 100], t)
    play_clock(bridge, 24 * 6, t)
    assert {ch for ch, _ in sounding(out.sent)} == {1, 2, 3}  # the chorale answers once it has listened
    change, said = typed_line("folk band, just the bass", bridge)
    run_change(change)
    assert bridge.active == 0 and [bridge.engine.muted(k) for k in (0, 1)] == [False, True]
    assert said == "'folk band, just the bass': style chorale -> band; parts bass, comping -> bass"


def test_busier_sparser_and_movement_change_the_band_patterns():
    bridge, _, _ = make_band_bridge()
    change, said = typed_line("busier, more movement", bridge)
    run_change(change)
    assert (bridge.engine.density, bridge.engine.knob) == (0.7, 0.2)
    assert said == "'busier, more movement': style knob 0 -> 0.2; density 0.5 -> 0.7"
    change, _ = typed_line("much sparser", bridge)
    run_change(change)
    assert bridge.engine.density == 0.3


def test_a_style_not_loaded_band_words_on_the_chorale_and_a_key_for_the_band_are_named():
    bridge, _ = make_bridge()
    change, said = typed_line("band, busier", bridge)
    assert change is None and bridge.active == 0
    assert said == ("'band, busier': style band: not loaded in this session (start with --style band; then typing band or "
                    "chorale switches); not changed while playing: density 0.7 (only the band style has it)")
    band, _, _ = make_band_bridge()
    change, said = typed_line("in D", band)
    assert change is None and said == "'in D': not changed while playing: key D major (the band keeps to the chords it hears)"
