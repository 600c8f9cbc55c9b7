"""The click: on every beat, accented on the bar's first, one note-off owed at a time and always paid."""

from __future__ import annotations

from sideman.bridge.core.metronome import ACCENT_VELOCITY, BEAT_VELOCITY, Metronome


def run(metronome, steps, spb=4, bar=4):
    return {step: [(m.type, m.channel, m.note, m.velocity) for m in metronome.tick(step, spb, bar)] for step in steps}


def test_clicks_on_beats_accents_the_bar_and_ends_each_click_at_the_next_tick():
    out = run(Metronome(9, 37, enabled=True), range(0, 17))
    assert out[0] == [("note_on", 9, 37, ACCENT_VELOCITY)]
    assert out[1] == [("note_off", 9, 37, 0)]
    assert out[2] == [] and out[3] == []
    assert out[4] == [("note_on", 9, 37, BEAT_VELOCITY)]
    assert out[16] == [("note_on", 9, 37, ACCENT_VELOCITY)]
    ons = [s for s, msgs in out.items() if any(m[0] == "note_on" for m in msgs)]
    assert ons == [0, 4, 8, 12, 16]


def test_stop_pays_the_note_off_owed_once():
    m = Metronome(9, 76, enabled=True)
    m.tick(0, 4, 4)
    assert [(x.type, x.note) for x in m.stop()] == [("note_off", 76)]
    assert m.stop() == []


def test_switching_off_ends_the_click_now_and_on_again_clicks_from_the_next_beat():
    m = Metronome(9, 37, enabled=True)
    m.tick(0, 4, 4)
    assert [x.type for x in m.set_enabled(False)] == ["note_off"]
    assert run(m, range(1, 9)) == {s: [] for s in range(1, 9)}
    assert m.set_enabled(True) == []
    assert run(m, [12])[12] == [("note_on", 9, 37, BEAT_VELOCITY)]


def test_the_count_in_clicks_even_with_the_metronome_off_and_stops_with_the_song():
    out = run(Metronome(9, 37, enabled=False, count_in=True), range(-16, 8))
    ons = [s for s, msgs in out.items() if any(m[0] == "note_on" for m in msgs)]
    assert ons == [-16, -12, -8, -4]
    assert out[-16][0][3] == ACCENT_VELOCITY and out[-12][0][3] == BEAT_VELOCITY
    assert out[-3] == [("note_off", 9, 37, 0)] and out[0] == []


def test_every_click_is_ended_whatever_happens():
    m = Metronome(9, 37, enabled=True, count_in=True)
    sent = []
    for step in range(-8, 30):
        sent += m.tick(step, 4, 3)
        if step == 9:
            sent += m.set_enabled(False)
        if step == 14:
            sent += m.set_enabled(True)
    sent += m.stop()
    balance = sum(1 if x.type == "note_on" else -1 for x in sent)
    assert balance == 0 and sent[-1].type == "note_off"
