"""The engine hears: listen first, keep off the tune's clashes, keep to a key (locked or heard)."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.bridge.core.engine import EngineSettings
from sideman.bridge.core.harmony import CLASH_INTERVALS, HarmonyStrengths, key_pitch_classes
from sideman.bridge.core.listening import PitchClassTables
from sideman.bridge.engines import DEFAULT_MODEL, load_model
from sideman.bridge.offline.render import DEMO_MELODY, render

G_MAJOR = 7  # key class in the fake tables below: index = tonic (majors only)
TABLES = PitchClassTables(np.stack([key_pitch_classes(t, False) for t in range(12)]), np.zeros((1, 12), np.float32))


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_MODEL)


def settings(**kw) -> EngineSettings:
    return EngineSettings(part_channels=(1, 2, 3), **kw)


def part_onsets(result):
    return [n for n in result.notes if n.voice != "lead"]


def tune_at(result, t):
    return next((n.pitch for n in result.notes if n.voice == "lead" and n.start <= t < n.end), None)


def clashes(result) -> int:
    """Part onsets that form a second, tritone or seventh with the tune note sounding then."""
    count = 0
    for n in part_onsets(result):
        tune = tune_at(result, n.start + 1e-6)
        if tune is not None and (n.pitch - tune) % 12 in CLASH_INTERVALS:
            count += 1
    return count


def test_listening_first_the_parts_rest_for_those_beats_then_play(model):
    plain = render(DEMO_MELODY, model, settings())
    first = render(DEMO_MELODY, model, settings(listen_beats=4))
    beat = 60.0 / first.bpm
    start = min(n.start for n in first.notes if n.voice == "lead")
    assert any(n.start < start + 4 * beat for n in part_onsets(plain))
    assert not any(n.start < start + 4 * beat - 1e-6 for n in part_onsets(first))
    assert len(part_onsets(first)) > 0.7 * len(part_onsets(plain))


@pytest.mark.parametrize("listen_beats", [2, 4, 8])
def test_after_listening_first_every_part_comes_in_on_the_next_beat(model, listen_beats):
    result = render(DEMO_MELODY, model, settings(listen_beats=listen_beats))
    beat = 60.0 / result.bpm
    entry = min(n.start for n in result.notes if n.voice == "lead") + listen_beats * beat
    for voice in {n.voice for n in part_onsets(result)}:
        first = min(n.start for n in part_onsets(result) if n.voice == voice)
        assert abs(first - entry) < 1e-6, (voice, first / beat, entry / beat)


def test_listening_first_counts_the_beats_from_the_tune_s_first_note_not_from_the_start(model):
    import mido

    from sideman.bridge.offline.midi_input import read_melody

    demo = mido.MidiFile(DEMO_MELODY)
    late = mido.MidiFile(type=demo.type, ticks_per_beat=demo.ticks_per_beat)
    for track in demo.tracks:  # the same tune, its first note 6 beats after the start
        track = track.copy()
        first = next((i for i, m in enumerate(track) if m.type == "note_on"), None)
        if first is not None:
            track[first] = track[first].copy(time=track[first].time + 6 * demo.ticks_per_beat)
        late.tracks.append(track)
    result = render(read_melody(late), model, settings(listen_beats=4))
    beat = 60.0 / result.bpm
    start = min(n.start for n in result.notes if n.voice == "lead")
    assert start >= 6 * beat - 1e-6
    assert part_onsets(result) and not any(n.start < start + 4 * beat - 1e-6 for n in part_onsets(result))


def test_a_clash_cost_keeps_the_parts_off_the_tunes_seconds_tritones_and_sevenths(model):
    free = sum(clashes(render(DEMO_MELODY, model, settings(seed=s))) for s in range(3))
    kept = sum(clashes(render(DEMO_MELODY, model, settings(seed=s, harmony=HarmonyStrengths(clash=30.0)))) for s in range(3))
    assert free > 0
    assert kept < free / 4


def test_a_locked_key_keeps_part_onsets_in_that_key(model):
    in_g = key_pitch_classes(G_MAJOR, False)

    def out_of_key(result) -> int:
        return sum(1 for n in part_onsets(result) if not in_g[n.pitch % 12])

    free = sum(out_of_key(render(DEMO_MELODY, model, settings(seed=s))) for s in range(3))
    locked = sum(out_of_key(render(DEMO_MELODY, model, settings(seed=s, key_lock=G_MAJOR, harmony=HarmonyStrengths(key=30.0)),
                                   tables=TABLES)) for s in range(3))
    assert free > 0 and locked == 0


class FakeListener:
    """Hears G major from the first note on; counts what it was told."""

    def __init__(self) -> None:
        self.key_probs = np.zeros(12, np.float32)
        self.chord_probs = np.ones(1, np.float32)
        self.steps: list[tuple[set[int], list[int], int]] = []

    def step(self, sounding, onsets, step_in_beat):
        self.steps.append((set(sounding), list(onsets), step_in_beat))
        if sounding:
            self.key_probs[:] = 0.0
            self.key_probs[G_MAJOR] = 1.0

    def reset(self) -> None:
        self.key_probs[:] = 0.0


def test_the_engine_tells_the_listener_every_step_and_keeps_to_the_key_it_hears(model):
    listener = FakeListener()
    result = render(DEMO_MELODY, model, settings(harmony=HarmonyStrengths(key=30.0)), listener=listener, tables=TABLES)
    assert len(listener.steps) == result.n_steps
    struck = [p for _, onsets, _ in listener.steps for p in onsets]
    assert struck == [n.pitch for n in sorted(result.notes, key=lambda n: n.start) if n.voice == "lead"]
    assert [phase for _, _, phase in listener.steps[:8]] == [0, 1, 2, 3, 0, 1, 2, 3]
    in_g = key_pitch_classes(G_MAJOR, False)
    assert all(in_g[n.pitch % 12] for n in part_onsets(result))


@pytest.mark.parametrize("bad", [{"key_settle_beats": -1}, {"key_close": 1.5}, {"key_close": -0.1}])
def test_the_key_doubt_settings_are_checked(bad):
    with pytest.raises(ValueError, match="key_settle_beats"):
        settings(**bad).validate(3)
