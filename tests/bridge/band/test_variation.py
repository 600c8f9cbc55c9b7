"""The band engine with a variation generator: bars decided ahead at the last beat, chords still followed, the decoded
pattern as the fallback, reproducible for a seed."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from sideman.bridge.band.engine import BandEngine, BandSettings
from sideman.bridge.band.grid import CELLS, GRID_SHAPE, N_BASS, ONSET, chord_index, chord_of, slot_pitch_class
from sideman.bridge.band.variation import CHORD_SIZE, VaryingDecoder, chord_vector
from tests.bridge.band.test_band_engine import FakeDecoder, on, sounding_after


class FakeVariation:
    """Proposes a walking bass (root, fifth, third, passing on the beats) under comping root struck on each 8th;
    records what it was asked."""

    noise = 3

    def __init__(self, fail: bool = False, empty: bool = False) -> None:
        self.fail, self.empty = fail, empty
        self.asked: list[tuple[int, int, np.ndarray]] = []  # (chord, beats, noise)

    def propose(self, previous, chord, beats, style, noise):
        self.asked.append((chord, beats, noise))
        if self.fail:
            raise RuntimeError("broken model")
        grid = np.zeros(GRID_SHAPE, np.uint8)
        if self.empty:
            return grid
        for beat, slot in zip(range(0, 4 * beats, 4), (0, 2, 1, 4)):
            grid[beat:beat + 4, slot, :] = 1
            grid[beat + 1:beat + 4, slot, ONSET] = 0
        grid[0:4 * beats:2, N_BASS, :] = 1
        return grid


CHORDS = {0: [60, 64, 67], 16: [65, 69, 72], 32: [67, 71, 74, 65], 48: [60, 64, 67]}  # C, F, G7, C (split keys)


def run(engine: BandEngine, steps: int = 64, prepare: bool = False) -> list[tuple[int, mido.Message]]:
    """Play `steps` 16ths with a chord per bar held below the split point; prepare: as the live loop, after each tick."""
    out: list[tuple[int, mido.Message]] = []
    held: list[int] = []
    for step in range(steps):
        if step in CHORDS:
            for note in held:
                engine.handle(mido.Message("note_off", note=note - 24), step * 0.1)
            held = CHORDS[step]
            for note in held:
                engine.handle(on(note - 24), step * 0.1)
        out += [(step, m) for m in engine.tick(step, step * 0.1, 0.1, 4)]
        if prepare:
            engine.prepare_next_bar()
    return out


def settings(**kw) -> BandSettings:
    return BandSettings(part_channels=(1, 2), chord_source="split", split_point=60, **kw)


def test_chord_vector():
    v = chord_vector(chord_index(7, "dom7"))
    assert v.shape == (CHORD_SIZE,) and v.sum() == 2 and v[7] == 1 and v[12 + 2] == 1


def test_variation_changes_the_bars_and_still_follows_the_chords():
    plain = run(BandEngine(FakeDecoder(), settings()))
    generator = FakeVariation()
    engine = BandEngine(FakeDecoder(), settings(), generator)
    varied = run(engine)
    assert [m for _, m in varied] != [m for _, m in plain]
    # Each bar's last beat proposes the next under the chord heard then (the next bar's is not yet known).
    assert [a[:2] for a in generator.asked] == [(chord_index(0, "maj"), 4), (chord_index(5, "maj"), 4),
                                                (chord_index(7, "dom7"), 4)]
    bass_moves = {m.note % 12 for step, m in varied if m.type == "note_on" and m.channel == 1 and 16 <= step < 32}
    assert bass_moves == {5, 0, 9, 7}  # bar 2 walks F, C, A, G: the proposal pitched on F major
    for step, m in varied:
        if m.type == "note_on":
            root, quality = chord_of(chord_index(*{0: (0, "maj"), 1: (5, "maj"), 2: (7, "dom7"), 3: (0, "maj")}[step // 16]))
            tones = {slot_pitch_class(s, root, quality) for s in range(5 if m.channel == 1 else 4)}
            assert m.note % 12 in tones
    assert not sounding_after([m for _, m in varied] + engine.stop())


def test_the_next_bar_is_decided_at_the_last_beat_and_a_tick_only_reads_it():
    generator = FakeVariation()
    engine = BandEngine(FakeDecoder(), settings(), generator)
    asked_at = []
    for step in range(32):
        engine.tick(step, step * 0.1, 0.1, 4)
        if step == 0:
            engine.handle(on(36), 0.0)
        engine.prepare_next_bar()
        asked_at += [step] * (len(generator.asked) - len(asked_at))
    assert asked_at == [12, 28]


def test_prepared_ahead_or_at_the_bar_line_plays_the_same():
    a = run(BandEngine(FakeDecoder(), settings(seed=3), FakeVariation()), prepare=True)
    b = run(BandEngine(FakeDecoder(), settings(seed=3), FakeVariation()), prepare=False)
    assert a == b
    x, y = FakeVariation(), FakeVariation()
    run(BandEngine(FakeDecoder(), settings(seed=3), x))
    run(BandEngine(FakeDecoder(), settings(seed=4), y))
    assert not np.allclose(x.asked[0][2], y.asked[0][2])


@pytest.mark.parametrize("broken", [FakeVariation(fail=True), FakeVariation(empty=True)])
def test_a_broken_or_empty_generator_falls_back_to_the_decoded_patterns(broken):
    plain = run(BandEngine(FakeDecoder(), settings()))
    engine = BandEngine(FakeDecoder(), settings(), broken)
    assert run(engine) == plain
    assert len(broken.asked) == 3 and engine.variation_failures == (3 if broken.fail else 0)


def test_a_varying_decoder_is_the_decoder_for_the_engine():
    decoder, generator = FakeDecoder(), FakeVariation()
    joined = VaryingDecoder(decoder, generator)
    assert joined.anchors is decoder.anchors and joined.latent == decoder.latent and joined.contract is decoder.contract
    assert joined.decode(np.zeros((2, 4)), np.zeros((2, 1))).shape == (2, CELLS * 18)


def test_the_shipped_generator_through_the_one_road(tmp_path):
    from sideman.bridge.config import Config
    from sideman.bridge.engines import band_settings, build_engines, load_band_decoder, model_paths
    from sideman.bridge.offline.render import render
    from tests.bridge.band.test_band_cli import tune

    tune(tmp_path / "t.mid", notes=(67, 71, 74, 72, 71, 69, 67, 62) * 4)
    on_config = Config().replace("band", variation=True, knob=0.5)
    joined = load_band_decoder(on_config)
    assert isinstance(joined, VaryingDecoder)
    engines = build_engines(on_config.replace("engine", style="band"), model_paths(on_config))
    assert isinstance(engines[0].variation, type(joined.variation))

    def notes(config: Config) -> list[tuple[float, int, int]]:
        model = load_band_decoder(config)
        result = render(tmp_path / "t.mid", model, band_settings(config, list(model.anchors)))
        return [(round(t, 6), m.channel, m.note) for t, m in result.events if m.type == "note_on" and m.velocity]

    varied = notes(on_config)
    assert varied == notes(on_config)  # the same seed renders the same
    assert varied != notes(Config().replace("band", knob=0.5))
    assert varied != notes(on_config.replace("engine", seed=1))


def test_a_missing_variation_model_is_one_line(tmp_path, capsys):
    from sideman.bridge.cli import main
    from tests.bridge.band.test_band_cli import tune

    tune(tmp_path / "t.mid")
    (tmp_path / "c.toml").write_text(f'[band]\nvariation = true\nvariation_model = "{tmp_path / "none.onnx"}"\n')
    args = ["accompany", str(tmp_path / "t.mid"), "-o", str(tmp_path / "j.mid"), "--style", "band", "--config", str(tmp_path / "c.toml")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"sideman: error: {tmp_path / 'none.onnx'}: no such band variation model file"]
