"""The piano roll: a PNG with every voice in its own colour; matplotlib stays out of the live bridge."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from sideman.bridge.offline.render import DEMO_MELODY, render
from sideman.bridge.offline.pianoroll import COLOURS, save_piano_roll
from tests.paths import REPO
from tests.fakes import FakeStepModel


def _has_colour(img: np.ndarray, hex_colour: str) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return bool(np.any(np.all(np.abs(img[..., :3] - rgb) < 0.02, axis=-1)))


def test_piano_roll_draws_every_voice_in_its_own_colour(tmp_path):
    import matplotlib.image

    result = render(DEMO_MELODY, FakeStepModel())
    path = save_piano_roll(result, tmp_path / "sub" / "roll.png", title="demo")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(path)
    height, width = img.shape[:2]
    assert width > height > 300  # wide: time runs left to right over 12 bars
    for k, _ in enumerate(result.voices):
        assert _has_colour(img, COLOURS[k]), f"voice {k} colour {COLOURS[k]} missing"
    assert not _has_colour(img, COLOURS[len(result.voices)])  # ...and no colour for a voice that is not there


def test_piano_roll_of_silence_still_draws(tmp_path):
    result = render(DEMO_MELODY, FakeStepModel(bad_at=set(range(10_000))))  # every step faults: no part notes
    assert result.faults == result.n_steps
    path = save_piano_roll(result, tmp_path / "silent.png")
    assert path.stat().st_size > 1000


def test_the_live_modules_do_not_import_matplotlib():
    code = ("import sys, sideman.bridge.core.engine, sideman.bridge.offline.render, sideman.bridge.offline.pianoroll; "
            "sys.exit(1 if any(m.startswith('matplotlib') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=str(REPO)).returncode == 0
