"""The shipped answer model's runtime: a state snapshot taken and restored goes on exactly where it was."""

from __future__ import annotations

import numpy as np

from sideman.bridge.model.melody import DEFAULT_MELODY, MELODY_VOCAB, MelodyModel

V = MELODY_VOCAB


def test_a_restored_snapshot_goes_on_as_if_nothing_ran_between() -> None:
    model = MelodyModel.load(DEFAULT_MELODY)
    for step, token in enumerate([V.onset(60), V.hold, V.onset(64)]):  # an odd count: the state sits in the other buffer
        model.step(token, step % 4)
    saved = model.snapshot()
    expected = model.step(V.onset(67), 3).copy()
    for step in range(6):  # another line, on from the same point
        model.step(V.onset(72 + step), step % 4)
    other = model.step(V.onset(67), 3).copy()
    model.restore(saved)
    assert not np.allclose(other, expected)
    assert np.array_equal(model.step(V.onset(67), 3), expected)
