"""The band engine with a fake decoder: ticks never call the network, chords re-pitch at once, no stuck notes."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from sideman.bridge.band.decoder import BandContract
from sideman.bridge.band.engine import BandEngine, BandSettings
from sideman.bridge.band.grid import CELLS, GRID_SHAPE, GRID_SIZE, N_BASS, ONSET, SOUND, chord_index
from sideman.bridge.core.listening import HeardNow


class FakeDecoder:
    """Counts calls; its pattern: bass root held all bar (start on cell 0), comping third + fifth struck on each beat."""

    latent = 4
    contract = BandContract()

    def __init__(self) -> None:
        self.anchors = {"sustained": np.ones(4, np.float32), "walking": -np.ones(4, np.float32) + np.eye(4)[0]}
        self.calls = 0

    def decode(self, z: np.ndarray, meter: np.ndarray) -> np.ndarray:
        self.calls += 1
        grid = np.zeros(GRID_SHAPE, np.float32)
        grid[:, 0, SOUND] = 1.0
        grid[0, 0, ONSET] = 1.0
        for beat in range(0, CELLS, 4):
            grid[beat:beat + 2, N_BASS + 1:N_BASS + 3, SOUND] = 1.0
            grid[beat, N_BASS + 1:N_BASS + 3, ONSET] = 1.0
        return np.repeat(grid.reshape(1, GRID_SIZE), len(z), axis=0)


def on(note: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=90, channel=channel)


def off(note: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, channel=channel)


def sounding_after(messages: list[mido.Message]) -> set[tuple[int, int]]:
    playing: set[tuple[int, int]] = set()
    for m in messages:
        if m.type == "note_on" and m.velocity > 0:
            assert (m.channel, m.note) not in playing, "a note struck twice without its note-off"
            playing.add((m.channel, m.note))
        elif m.type in ("note_on", "note_off"):
            playing.discard((m.channel, m.note))
    return playing


def play(engine: BandEngine, steps: range, notes: dict[int, list[int]] | None = None) -> list[mido.Message]:
    out: list[mido.Message] = []
    for step in steps:
        for note in (notes or {}).get(step, []):
            out += engine.handle(on(note), step * 0.1)
        out += engine.tick(step, step * 0.1, 0.1, 4)
    return out


def test_ticks_only_read_the_patterns():
    decoder = FakeDecoder()
    engine = BandEngine(decoder, BandSettings())
    before = decoder.calls
    play(engine, range(64), {0: [60, 64, 67], 16: [65, 69], 32: [67, 71]})
    assert decoder.calls == before == 1  # one batched decode, at construction
    engine.set_knob(0.5)
    assert decoder.calls == 2  # the knob decodes, outside any tick


def test_bass_and_comping_follow_the_chord():
    engine = BandEngine(FakeDecoder(), BandSettings(part_channels=(1, 2)))
    out = play(engine, range(4), {0: [60, 64, 67]})
    assert engine.chord == chord_index(0, "maj")
    notes = {(m.channel, m.note % 12) for m in out if m.type == "note_on"}
    assert (1, 0) in notes and (2, 4) in notes and (2, 7) in notes


def test_a_chord_change_mid_bar_repitches_held_notes_at_once():
    engine = BandEngine(FakeDecoder(), BandSettings(part_channels=(1, 2)))
    play(engine, range(8), {0: [60, 64, 67]})
    assert engine.sounding[0] % 12 == 0
    # Beat 3 (cell 8) brings F major; the bass's held root (no start in the pattern's cell 8) moves at once.
    for note in (65, 69, 72):
        engine.handle(on(note), 0.8)
    out = engine.tick(8, 0.8, 0.1, 4)
    assert engine.chord == chord_index(5, "maj")
    bass = [m for m in out if m.channel == 1]
    assert [(m.type, m.note % 12) for m in bass] == [("note_off", 0), ("note_on", 5)]


@pytest.mark.parametrize("avoid", [True, False])
def test_the_tune_note_is_a_fact(avoid):
    # C major from the left hand (kept after its keys are up), then the tune holds D: the comping's E (a second) rests, G stays; the bass's held C (a seventh below
    # D) moves to G at once.
    engine = BandEngine(FakeDecoder(), BandSettings(part_channels=(1, 2), avoid_clashes=avoid, chord_source="split"))
    for note in (48, 52, 55):
        engine.handle(on(note), 0.0)
    engine.tick(0, 0.0, 0.1, 4)
    for note in (48, 52, 55):
        engine.handle(off(note), 0.05)
    engine.handle(on(74), 0.35)
    out = engine.tick(4, 0.4, 0.1, 4)
    comp = {m.note % 12 for m in out if m.channel == 2 and m.type == "note_on"}
    bass = {m.note % 12 for m in out if m.channel == 1 and m.type == "note_on"}
    if avoid:
        assert comp == {7} and bass == {7}
    else:
        assert comp == {4, 7} and bass == set()


@pytest.mark.parametrize("end", ["stop", "panic", "disable", "mute"])
def test_no_stuck_notes(end):
    engine = BandEngine(FakeDecoder(), BandSettings(part_channels=(1, 2)))
    out = play(engine, range(6), {0: [60, 64, 67], 4: [62]})
    assert sounding_after(out)
    if end == "stop":
        out += engine.stop()
    elif end == "panic":
        out += engine.panic()
    elif end == "disable":
        out += engine.set_enabled(False)
        out += play(engine, range(6, 10))
    else:
        out += engine.set_muted(0, True) + engine.set_muted(1, True)
        out += play(engine, range(6, 10))
    assert sounding_after(out) == set()


def test_reset_ends_the_notes_at_the_next_tick():
    engine = BandEngine(FakeDecoder(), BandSettings())
    out = play(engine, range(3), {0: [60, 64, 67]})
    engine.reset()
    out += engine.tick(0, 1.0, 0.1, 4)  # no chord heard yet since the reset: everything ends
    assert sounding_after(out) == set()


def test_split_source_keeps_the_chord_when_none_is_held():
    engine = BandEngine(FakeDecoder(), BandSettings(chord_source="split", split_point=60))
    engine.handle(on(50), 0.0)  # D below the split
    engine.handle(on(54), 0.0)
    engine.handle(on(57), 0.0)
    engine.handle(on(72), 0.0)  # the melody above it does not count
    engine.tick(0, 0.0, 0.1, 4)
    assert engine.chord == chord_index(2, "maj")
    for note in (50, 54, 57):
        engine.handle(off(note), 0.1)
    play(engine, range(1, 9))
    assert engine.chord == chord_index(2, "maj")


def test_key_freeze_holds_the_band_chord_until_released():
    engine = BandEngine(FakeDecoder(), BandSettings())
    engine.freeze_key(True)  # nothing heard yet: nothing to hold
    assert not engine.heard.key_locked
    play(engine, range(4), {0: [60, 64, 67]})
    assert engine.heard == HeardNow(None, 0.0, chord_index(0, "maj"), 1.0, False)
    engine.freeze_key(True)
    play(engine, range(4, 12), {4: [62, 65, 69]})  # d minor played: the held C stays
    assert engine.heard.chord == chord_index(0, "maj") and engine.heard.key_locked
    engine.freeze_key(False)
    play(engine, range(12, 16), {12: [62, 65, 69]})
    assert engine.heard.chord == chord_index(2, "min") and not engine.heard.key_locked


class UnsureDecoder(FakeDecoder):
    """The fake's pattern, plus the comping root at 0.4 on every beat: it sounds only when density asks for more."""

    def decode(self, z: np.ndarray, meter: np.ndarray) -> np.ndarray:
        probs = super().decode(z, meter).reshape(len(z), *GRID_SHAPE)
        probs[:, ::4, N_BASS, :] = 0.4
        return probs.reshape(len(z), GRID_SIZE)


def onsets(engine: BandEngine, channel: int) -> int:
    out = play(engine, range(16), {0: [60, 64, 67]})
    return sum(1 for m in out if m.type == "note_on" and m.velocity > 0 and m.channel == channel)


def test_density_strikes_more_where_the_decoder_is_unsure_and_restrikes_held_notes():
    counts = {}
    for density in (0.2, 0.5, 0.7, 0.8):
        engine = BandEngine(UnsureDecoder(), BandSettings(part_channels=(1, 2), density=density, avoid_clashes=False))
        counts[density] = (onsets(engine, 1), onsets(engine, 2))
    assert counts[0.2] == counts[0.5] == (1, 8)  # the held bass root, the comping's two notes a beat
    assert counts[0.7] == (2, 12)  # + the bass restruck at beat 3, the 0.4 root on each beat
    assert counts[0.8] == (4, 12)  # the bass restruck on every beat
    decoder = UnsureDecoder()
    engine = BandEngine(decoder, BandSettings(part_channels=(1, 2)))
    engine.set_density(0.8)
    assert engine.density == 0.8 and decoder.calls == 1  # a new density re-reads the last answer, no network call
    with pytest.raises(ValueError, match="density"):
        engine.set_density(1.5)


def test_settings_validation():
    with pytest.raises(ValueError, match="anchors"):
        BandEngine(FakeDecoder(), BandSettings(anchors=("sustained", "bebop")))
    with pytest.raises(ValueError, match="knob"):
        BandEngine(FakeDecoder(), BandSettings(knob=1.5))
    with pytest.raises(ValueError, match="density"):
        BandEngine(FakeDecoder(), BandSettings(density=-0.1))
