"""Lines typed while Sideman plays change what plays: parts, tempo, temperature; the rest is named, never dropped."""

from __future__ import annotations

import pytest

from sideman.bridge.cli import run_prompt
from sideman.bridge.config import Config
from sideman.bridge.core.clock import InternalClock
from sideman.bridge.live.typed import typed_line
from tests.bridge.live.test_loop import make_bridge


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
    assert "not changed while playing yet: meter 3/4" in said and "not understood: kazoos" in said


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
    config = run_prompt(Config(), "slow and safe, just the bass", ("alto", "tenor", "bass"))
    assert config.parts.mute == ("alto", "tenor") and config.engine.temperature < Config().engine.temperature
    assert config.bridge.tempo < Config().bridge.tempo
    flagged = run_prompt(Config().replace("bridge", tempo=140.0), "slow", ("alto", "tenor", "bass"), given=("tempo",))
    assert flagged.bridge.tempo == 140.0
    assert "the flag given wins" in capsys.readouterr().out
