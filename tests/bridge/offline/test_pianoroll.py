"""The piano roll: a PNG with every voice in its own colour; matplotlib stays out of the live bridge."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import pytest

from sideman.bridge.errors import MissingDependencyError
from sideman.bridge.offline.render import DEMO_MELODY, render
from sideman.bridge.offline.pianoroll import COLOURS, layout, save_piano_roll
from tests.bridge.offline.test_render import SETTINGS, melody_file
from tests.paths import REPO
from tests.fakes import FakeStepModel


def _has_colour(img: np.ndarray, hex_colour: str) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return bool(np.any(np.all(np.abs(img[..., :3] - rgb) < 0.02, axis=-1)))


def test_piano_roll_draws_every_voice_in_its_own_colour(tmp_path):
    import matplotlib.image

    result = render(DEMO_MELODY, FakeStepModel())
    [path] = save_piano_roll(result, tmp_path / "sub" / "roll.png", title="demo")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(path)
    height, width = img.shape[:2]
    assert width > height > 300  # wide: time runs left to right, 12 bars in two systems
    for k, _ in enumerate(result.voices):
        assert _has_colour(img, COLOURS[k]), f"voice {k} colour {COLOURS[k]} missing"
    assert not _has_colour(img, COLOURS[len(result.voices)])  # ...and no colour for a voice that is not there


def test_piano_roll_of_silence_still_draws(tmp_path):
    result = render(DEMO_MELODY, FakeStepModel(bad_at=set(range(10_000))))  # every step faults: no part notes
    assert result.faults == result.n_steps
    [path] = save_piano_roll(result, tmp_path / "silent.png")
    assert path.stat().st_size > 1000


def test_the_live_modules_do_not_import_matplotlib():
    code = ("import sys, sideman.bridge.core.engine, sideman.bridge.offline.render, sideman.bridge.offline.pianoroll; "
            "sys.exit(1 if any(m.startswith('matplotlib') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=str(REPO)).returncode == 0


def _longest_lead_note_px(path) -> int:
    """The longest horizontal run of solid black (a lead note's inside: black at least 4 px above and below)."""
    import matplotlib.image

    black = np.all(matplotlib.image.imread(path)[..., :3] < 0.05, axis=-1)
    solid = black.copy()
    for dy in range(1, 5):
        solid[dy:] &= black[:-dy]
        solid[:-dy] &= black[dy:]
    best = 0
    for row in solid:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        if len(edges):
            best = max(best, int(np.max(edges[1::2] - edges[::2])))
    return best


def test_a_long_piece_is_wrapped_into_systems_and_pages_at_one_readable_scale(tmp_path):
    import matplotlib.image

    bars, note = 150, 400 / 480  # every melody note lasts 5/6 of a beat
    mid = melody_file([(i * 480, i * 480 + 400, 60 + i % 20) for i in range(bars * 4)])
    result = render(mid, FakeStepModel(), SETTINGS)
    paths = save_piano_roll(result, tmp_path / "roll.png", title="long")
    assert paths[:2] == [tmp_path / "roll.png", tmp_path / "roll-2.png"] and all(p.is_file() for p in paths)
    for path in paths:
        assert _longest_lead_note_px(path) >= note * 30, f"{path.name}: a beat is drawn under 30 px wide"
        assert matplotlib.image.imread(path).shape[0] < 2 ** 13  # pages a viewer opens, not one endless strip
    short = save_piano_roll(render(melody_file([(0, 400, 72)]), FakeStepModel(), SETTINGS), tmp_path / "short.png")
    widths = {matplotlib.image.imread(p).shape[1] for p in paths + short}
    assert len(widths) == 1, "a long piece is as wide as a short one: it grows downwards, in systems"
    assert sum(len(page) for page in layout(result)) == -(-bars // 8)  # systems of 8 bars of 4/4


def test_without_matplotlib_the_piano_roll_is_a_one_line_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what a plain `pip install sideman` has
    result = render(DEMO_MELODY, FakeStepModel())
    with pytest.raises(MissingDependencyError) as error:
        save_piano_roll(result, tmp_path / "roll.png")
    assert str(error.value) == "the piano roll needs matplotlib: pip install matplotlib"
    assert not (tmp_path / "roll.png").exists()
