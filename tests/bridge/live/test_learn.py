"""MIDI learn's state machine, fed hand-made control changes and typed lines; and the live loop handing it
the control changes while it asks."""

from __future__ import annotations

import dataclasses

import pytest

from sideman.bridge.config import ControlsConfig
from sideman.bridge.live.learn import GESTURE_GAP, Learner, controls_text, slots, sources_text
from tests.bridge.live.test_loop import feed, make_bridge, sounding

PARTS = ("alto", "tenor", "bass")
LABELS = ["temperature", "accompaniment", "mute alto", "mute tenor", "mute bass", "key freeze", "panic", "metronome", "answer mode",
          "answer now", "style knob"]


def notices(learner: Learner) -> list[str]:
    out = []
    while not learner.notices.empty():
        out.append(learner.notices.get())
    return out


def move(learner: Learner, cc: int, t: float, channel: int = 0, values=(10, 20)):
    """One gesture of a knob: its values a few ms apart from `t`; what the last message returned."""
    result = None
    for i, value in enumerate(values):
        result = learner.feed(channel, cc, value, t + i * 0.01)
    return result


def started(controls: ControlsConfig = ControlsConfig()) -> Learner:
    learner = Learner(PARTS)
    learner.start(controls)
    notices(learner)
    return learner


def test_asks_for_every_control_of_the_dataclass_in_order_naming_parts():
    assert [s.label for s in slots(ControlsConfig(), PARTS)] == LABELS
    # A list key without part names, and any key added to the dataclass, are asked too.
    extended = dataclasses.make_dataclass("More", [("swing", int, 30)], bases=(ControlsConfig,), frozen=True)()
    assert [s.label for s in slots(extended)] == ["temperature", "accompaniment", "mute parts #1", "mute parts #2",
                                                   "mute parts #3", "key freeze", "panic", "metronome", "answer mode",
                                                   "answer now", "style knob", "swing"]


def test_maps_each_control_to_the_next_cc_that_moves_then_ends_with_the_new_map():
    learner = started()
    assert learner.prompt == "move the control for: temperature (now CC 21; Enter skips, q ends)"
    results = [move(learner, cc, t=i * 1.0, channel=i % 3) for i, cc in enumerate((40, 41, 42, 43, 44, 46, 45, 47, 48, 49, 50))]
    assert results[:10] == [None] * 10
    assert results[10] == ControlsConfig(temperature=40, accompaniment=41, mute_parts=(42, 43, 44), key_freeze=46, panic=45, metronome=47,
                                         answer_mode=48, answer_now=49, style_knob=50)
    assert not learner.active and learner.prompt is None
    assert learner.finished.get_nowait() == results[10]
    said = notices(learner)
    assert said[0] == "temperature: CC 40" and "move the control for: accompaniment (now CC 22; Enter skips, q ends)" in said
    assert said[-1] == "Learnt: temperature CC 40, accompaniment CC 41, mute alto CC 42, mute tenor CC 43, mute bass CC 44, key freeze CC 46, panic CC 45, metronome CC 47, answer mode CC 48, answer now CC 49, style knob CC 50"


def test_a_first_report_or_a_repeated_value_is_not_a_move():
    learner = started()
    assert learner.feed(0, 30, 64, 0.0) is None and learner.feed(0, 30, 64, 0.01) is None
    assert learner.prompt.startswith("move the control for: temperature")
    learner.feed(0, 30, 65, 0.02)
    assert learner.prompt.startswith("move the control for: accompaniment")


@pytest.mark.parametrize("cc", [64, 120, 121, 123, 127])
def test_the_sustain_pedal_and_channel_mode_messages_are_never_learnt(cc):
    learner = started()
    move(learner, cc, 0.0, values=(0, 127, 0))
    assert learner.prompt.startswith("move the control for: temperature") and notices(learner) == []


def test_a_cc_taken_in_this_round_is_refused_once_per_gesture_and_the_control_asked_again():
    learner = started()
    move(learner, 30, 0.0)  # temperature
    notices(learner)
    move(learner, 30, 0.015, values=(30, 40, 50))  # the rest of the same gesture: silent
    assert notices(learner) == [] and learner.prompt.startswith("move the control for: accompaniment")
    move(learner, 30, 1.0, values=(60, 70, 80))  # a new gesture of the taken knob
    assert notices(learner) == ["CC 30 is already temperature in this round; move another control for: accompaniment"]
    assert learner.prompt.startswith("move the control for: accompaniment")
    move(learner, 30, 1.0 + GESTURE_GAP + 0.1)
    assert len(notices(learner)) == 1  # and again for the next gesture
    move(learner, 31, 3.0)
    assert learner.prompt.startswith("move the control for: mute alto")


def test_a_skipped_control_keeps_its_number_and_that_number_is_taken():
    learner = started()
    assert learner.answer("") is None and learner.answer(" s ") is None  # temperature, accompaniment kept
    assert notices(learner)[:2] == ["temperature: kept CC 21", "move the control for: accompaniment (now CC 22; Enter skips, q ends)"]
    move(learner, 22, 0.0)
    assert notices(learner) == ["CC 22 is already accompaniment in this round; move another control for: mute alto"]


def test_a_learnt_cc_is_taken_from_a_control_not_yet_asked():
    learner = started()
    move(learner, 26, 0.0)  # panic's number, for temperature
    assert "panic had CC 26: it is off until you learn it" in notices(learner)
    for _ in range(10):  # the rest, kept
        learner.answer("")
    result = learner.finished.get_nowait()
    assert result.temperature == 26 and result.panic == -1 and result.problem() is None


@pytest.mark.parametrize("key", ["q", "Q", "\x1b"])
def test_q_or_esc_ends_keeping_what_was_learnt(key):
    learner = started()
    move(learner, 40, 0.0)
    learnt = learner.answer(key)
    assert learnt == ControlsConfig(temperature=40) and not learner.active
    assert learner.finished.get_nowait() == learnt
    assert learner.feed(0, 41, 1, 2.0) is None and learner.feed(0, 41, 2, 2.01) is None  # over: nothing is learnt


def test_ending_with_nothing_changed_saves_nothing():
    learner = started()
    assert learner.answer("q") == ControlsConfig()
    assert learner.finished.empty() and notices(learner) == ["Learning ended: nothing changed."]


def test_another_line_is_named_and_the_control_asked_again():
    learner = started()
    assert learner.answer("busier") is None
    assert notices(learner) == ["'busier': Enter skips temperature, q ends learning"] and learner.active


def test_the_map_and_where_it_comes_from_in_one_line():
    assert controls_text(ControlsConfig(panic=-1), PARTS) == ("temperature CC 21, accompaniment CC 22, mute alto CC 23, "
                                                               "mute tenor CC 24, mute bass CC 25, key freeze CC 27, panic off, metronome CC 28, "
                                                               "answer mode CC 85, answer now CC 86, style knob CC 29")
    keys = [f.name for f in dataclasses.fields(ControlsConfig)]
    assert sources_text(dict.fromkeys(keys, "defaults")) == "defaults"
    assert sources_text(dict.fromkeys(keys, "/u/sideman.toml")) == "from /u/sideman.toml"
    mixed = dict.fromkeys(keys, "defaults") | {"panic": "/u/sideman.toml", "temperature": "/u/sideman.toml"}
    assert sources_text(mixed) == "temperature, panic from /u/sideman.toml; the rest defaults"


# -- in the live loop ------------------------------------------------------------------------------

def learning_bridge(thru=False):
    bridge, out = make_bridge(clock="internal", thru=thru)
    bridge.learner = Learner(PARTS)
    return bridge, out


def test_while_learning_a_control_change_goes_to_the_learner_not_to_its_old_control_nor_thru():
    bridge, out = learning_bridge(thru=True)
    feed(bridge, [0x90, 72, 100], 0.0)  # playing: the internal clock runs, the parts answer
    bridge.poll_clock(0.0)
    assert sounding(out.sent)
    bridge.learner.start(bridge.controls)
    feed(bridge, [0xB0, 26, 0], 0.1)  # panic's CC, moved for temperature: no panic
    feed(bridge, [0xB0, 26, 127], 0.11)
    assert sounding(out.sent) and not bridge.hushed
    assert bridge.learner.prompt.startswith("move the control for: accompaniment")
    assert not [m for m in out.sent if m.type == "control_change" and m.control == 26]
    feed(bridge, [0xB0, 64, 0], 0.2)  # the pedal is never learnt: it goes on as ever (here: thru)
    feed(bridge, [0xB0, 64, 127], 0.21)
    assert [m.value for m in out.sent if m.type == "control_change" and m.control == 64] == [0, 127]
    assert bridge.learner.prompt.startswith("move the control for: accompaniment")


def test_the_map_learnt_on_the_engine_thread_is_in_use_at_once():
    bridge, out = learning_bridge()
    bridge.learner.start(bridge.controls)
    for _ in range(6):
        bridge.learner.answer("")
    feed(bridge, [0xB1, 50, 1], 0.0)
    feed(bridge, [0xB1, 50, 2], 0.01)  # panic
    for _ in range(3):
        bridge.learner.answer("")  # the metronome, answer mode and answer now, kept
    feed(bridge, [0xB1, 51, 1], 0.02)
    feed(bridge, [0xB1, 51, 2], 0.03)  # the style knob, the last control: the round ends here
    assert not bridge.learner.active and bridge.controls.panic == 50 and bridge.controls.style_knob == 51
    feed(bridge, [0x90, 72, 100], 1.0)
    bridge.poll_clock(1.0)
    feed(bridge, [0xB0, 26, 127], 1.1)  # the old panic CC is nothing now
    assert sounding(out.sent) and not bridge.hushed
    feed(bridge, [0xB0, 50, 127], 1.2)  # the learnt panic
    assert sounding(out.sent) == set() and bridge.hushed


# -- in the session: typed lines, what is said, what is saved --------------------------------------

def learning_session(tmp_path, monkeypatch):
    import io

    from sideman.bridge.live.session import LiveSession

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    bridge, out = make_bridge(clock="internal")
    live = LiveSession(bridge.config, 0, [], 0.0, PARTS)
    bridge.learner = live.learner
    live.attach(bridge)
    live.out = io.StringIO()
    return live, bridge


def said(live) -> list[str]:
    live.pass_on()
    lines = live.out.getvalue().splitlines()
    live.out.seek(0)
    live.out.truncate()
    return lines


def test_l_starts_learning_the_answers_go_to_the_learner_and_the_map_is_saved_and_used(tmp_path, monkeypatch):
    from sideman.bridge.config import load_config

    live, bridge = learning_session(tmp_path, monkeypatch)
    live.on_line("l")
    assert said(live)[-1] == "move the control for: temperature (now CC 21; Enter skips, q ends)"
    feed(bridge, [0xB0, 40, 1], 0.0)
    feed(bridge, [0xB0, 40, 2], 0.01)
    live.on_line("q")
    assert bridge.controls.temperature == 40 and not live.learner.active
    path = tmp_path / "xdg" / "sideman" / "sideman.toml"
    assert said(live)[-2:] == ["Learnt: temperature CC 40, accompaniment CC 22, mute alto CC 23, mute tenor CC 24, "
                               "mute bass CC 25, key freeze CC 27, panic CC 26, metronome CC 28, answer mode CC 85, answer now CC 86, style knob CC 29",
                               f"Controls saved to {path}: in use now, and read at every start."]
    assert live.saved_controls == path and load_config().controls == ControlsConfig(temperature=40)


def test_a_line_that_is_no_command_is_named(tmp_path, monkeypatch):
    live, _ = learning_session(tmp_path, monkeypatch)
    live.on_line("kazoo")
    live.on_line("   ")
    assert said(live) == ["'kazoo': not understood: kazoo; nothing to change (l and Enter learns the controls)"]


def test_a_map_that_cannot_be_saved_is_still_used_and_the_line_says_why(tmp_path, monkeypatch):
    live, bridge = learning_session(tmp_path, monkeypatch)
    (tmp_path / "xdg").write_text("not a folder")
    live.on_line("l")
    feed(bridge, [0xB0, 40, 1], 0.0)
    feed(bridge, [0xB0, 40, 2], 0.01)
    live.on_line("q")
    last = said(live)[-1]
    assert last.startswith("sideman: the learnt controls are in use but were not saved: ") and "cannot write" in last
    assert bridge.controls.temperature == 40 and live.saved_controls is None


def test_the_status_line_says_which_control_is_being_learnt(tmp_path, monkeypatch):
    from sideman.bridge.live.status import status_text

    live, bridge = learning_session(tmp_path, monkeypatch)
    assert "move the control" not in status_text(bridge)
    live.on_line("l")
    live.on_line("")
    live.on_line("")
    live.on_line("")
    assert status_text(bridge).startswith("move the control for: mute tenor (now CC 24; Enter skips, q ends) | ")


def test_the_terminal_reader_hands_on_each_line_and_the_last_one_without_its_newline():
    import os

    from sideman.bridge.live.terminal import TerminalReader

    read, write = os.pipe()
    lines: list[str] = []
    reader = TerminalReader(lines.append, fd=read)
    reader.start()
    os.write(write, b"l\r\n\nq")
    os.close(write)
    reader._thread.join(timeout=5.0)  # the end of input ends the reader
    assert lines == ["l", "", "q"] and not reader._thread.is_alive()
    reader.stop()
    os.close(read)


def test_stopping_the_terminal_reader_does_not_wait_for_a_line():
    import os

    from sideman.bridge.live.terminal import TerminalReader

    read, write = os.pipe()
    reader = TerminalReader(lambda line: None, fd=read, interval=0.01)
    reader.start()
    reader.stop()
    assert not reader._thread.is_alive()
    os.close(read)
    os.close(write)


def test_stopping_the_session_mid_round_keeps_and_saves_what_was_learnt(tmp_path, monkeypatch):
    from sideman.bridge.config import load_config

    live, bridge = learning_session(tmp_path, monkeypatch)
    live.on_line("l")
    feed(bridge, [0xB0, 40, 1], 0.0)
    feed(bridge, [0xB0, 40, 2], 0.01)
    bridge.request_stop()  # Ctrl-C while accompaniment is asked for
    live.run()
    assert not live.learner.active and load_config().controls == ControlsConfig(temperature=40)
    assert said(live)[-1].startswith("Controls saved to ")
