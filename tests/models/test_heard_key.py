"""models/heard_key.py: the key input a network trains on is the key the engine feeds it live."""

from __future__ import annotations

import mido
import numpy as np

from sideman.bridge.core.engine import EngineSettings
from sideman.bridge.core.key_profiles import ProfileListener, pitch_class_tables
from sideman.bridge.model.contract import Vocab
from sideman.bridge.offline.render import render
from sideman.models.heard_key import UNHEARD, heard_keys
from tests.fakes import FakeStepModel

V = Vocab()
# A tune in D major (quarter notes), then a jump to A-flat major: the key moves.
TUNE = [62, 66, 69, 74, 73, 71, 69, 66, 67, 64, 62, 62, 68, 72, 75, 80, 79, 77, 75, 72, 73, 70, 68, 68]


def grid(pitches: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Quarter notes on the 16th grid: lead tokens [T] and step in beat [T]."""
    lead = np.full(4 * len(pitches), V.hold, np.int64)
    lead[::4] = [V.onset(p) for p in pitches]
    return lead, np.arange(len(lead)) % 4


def test_each_row_is_the_key_before_its_step() -> None:
    lead, in_beat = grid(TUNE)
    keys = heard_keys(lead, in_beat)
    np.testing.assert_array_equal(keys[0], UNHEARD)
    np.testing.assert_allclose(keys.sum(axis=1), 1.0, rtol=1e-5)
    changed = lead.copy()
    changed[40:] = V.onset(61)  # a different future changes no row up to its first step
    np.testing.assert_array_equal(heard_keys(changed, in_beat)[:41], keys[:41])
    assert keys[44:48].argmax(axis=1).tolist() == [2] * 4  # D major (tonic 2, major) after the D major bars
    assert int(keys[-1].argmax()) == 8  # A-flat major at the end


def test_a_transposed_tune_hears_the_transposed_key() -> None:
    lead, in_beat = grid(TUNE)
    up = heard_keys(grid([p - 7 for p in TUNE])[0], in_beat)  # a fifth down: the keys move 5 pitch classes up
    keys = heard_keys(lead, in_beat)
    rolled = np.concatenate([np.roll(keys[:, :12], 5, axis=1), np.roll(keys[:, 12:], 5, axis=1)], axis=1)
    np.testing.assert_allclose(up, rolled, atol=1e-6)


class KeyReadingModel(FakeStepModel):
    """The fake step model with the graph's `key_probs` input: records what the engine wrote before each step."""

    def __init__(self) -> None:
        super().__init__()
        self.key_probs = UNHEARD.copy()
        self.seen: list[np.ndarray] = []

    def step(self, *args, **kw):
        self.seen.append(self.key_probs.copy())
        return super().step(*args, **kw)

    def reset(self) -> None:
        super().reset()
        self.key_probs[...] = UNHEARD


def test_the_engine_feeds_the_model_the_key_it_trains_on() -> None:
    """Offline render with the profile listener: the key the engine writes into the model before each step
    is heard_keys of the tune, so training and playing see one input."""
    track = mido.MidiTrack()
    for p in TUNE:
        track += [mido.Message("note_on", note=p, velocity=80, time=0), mido.Message("note_off", note=p, time=480)]
    midi = mido.MidiFile(ticks_per_beat=480, tracks=[track])
    model = KeyReadingModel()
    settings = EngineSettings(part_channels=(1, 2, 3), listen_beats=0)
    render(midi, model, settings, tempo_bpm=100, listener=ProfileListener(), tables=pitch_class_tables())
    lead, in_beat = grid(TUNE)
    seen = np.array(model.seen[: len(lead)])
    assert len(seen) == len(lead)
    np.testing.assert_allclose(seen, heard_keys(lead, in_beat), atol=1e-6)


def test_a_locked_key_is_what_the_model_hears() -> None:
    track = mido.MidiTrack([mido.Message("note_on", note=p, velocity=80, time=0 if i == 0 else 480)
                            for i, p in enumerate(TUNE[:8])])
    model = KeyReadingModel()
    settings = EngineSettings(part_channels=(1, 2, 3), listen_beats=0, key_lock=7)  # G major
    render(mido.MidiFile(ticks_per_beat=480, tracks=[track]), model, settings, tempo_bpm=100,
           listener=ProfileListener(), tables=pitch_class_tables())
    assert all(int(k.argmax()) == 7 and k[7] == 1.0 for k in model.seen)
