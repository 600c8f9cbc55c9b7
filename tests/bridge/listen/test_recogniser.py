"""bridge/listen/recogniser.py: the contract is checked at load, steps answer from a bounded state, no torch."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from sideman.bridge.cli import main
from sideman.bridge.errors import ModelError
from sideman.bridge.listen.names import N_CHORDS, N_KEYS
from sideman.bridge.listen.recogniser import DEFAULT_LISTENER, Recogniser
from tests.paths import REPO

pytest.importorskip("onnx")
from tests.bridge.listen.fake_listener import C, W, contract_json, fake_listener  # noqa: E402

DEMO = REPO / "bridge" / "assets" / "demo-melody.mid"


def test_a_fake_listener_loads_and_answers(tmp_path: Path) -> None:
    listener = Recogniser.load(fake_listener(tmp_path / "ok.onnx"))
    heard = listener.step([43, 59, 74], [74], 2)
    assert 0 <= heard.key < N_KEYS and 0 <= heard.chord < N_CHORDS
    assert heard.key_confidence == pytest.approx(float(listener.key_probs.max()))
    assert listener.key_probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert heard.key_name.endswith(("major", "minor"))


@pytest.mark.parametrize("make, needle", [
    (lambda p: p.write_bytes(b"not a model") and p, "not a loadable ONNX model"),
    (lambda p: fake_listener(p, metadata=None), "no 'sideman.listener' metadata"),
    (lambda p: fake_listener(p, metadata=contract_json(features={"layout": "pitches/v0", "size": 52})), "feature_layout"),
    (lambda p: fake_listener(p, metadata=contract_json(contract_version=9)), "version 9 is not supported"),
    (lambda p: fake_listener(p, key_size=12), "'key_probs' has shape [12]"),
])
def test_a_bad_listener_file_is_one_line_and_exit_2(tmp_path: Path, capsys, make, needle) -> None:
    path = make(tmp_path / "bad.onnx")
    with pytest.raises(ModelError) as err:
        Recogniser.load(path)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert main(["listen", str(DEMO), "--listener", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sideman: error: ") and needle in lines[0]


def test_the_state_is_the_last_steps_and_stays_bounded_over_10000_steps(tmp_path: Path) -> None:
    listener = Recogniser.load(fake_listener(tmp_path / "ok.onnx"))
    shapes = [s.shape for s in listener.state]
    rng = np.random.default_rng(0)
    chords = [[int(p) for p in rng.integers(40, 80, size=int(rng.integers(0, 4)))] for _ in range(64)]
    for t in range(1000):  # warm up every buffer and code path before measuring
        listener.step(chords[t % 64], chords[t % 64][:1], t % 4)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for t in range(10_000):
        listener.step(chords[t % 64], chords[t % 64][:1], t % 4)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert [s.shape for s in listener.state] == shapes == [(1, C, W)]
    assert grown < 16 * 1024, f"{grown} bytes more after 10,000 steps"
    # The cache holds the newest W steps' first C features: the sounding C, C#, D, D# of the last two steps.
    listener.step([60, 62], [], 0)
    listener.step([61], [61], 1)
    assert listener.state[0][0].T.tolist() == [[1, 0, 1, 0], [0, 1, 0, 0]]


def test_snapshot_restore_and_reset(tmp_path: Path) -> None:
    listener = Recogniser.load(fake_listener(tmp_path / "ok.onnx"))
    listener.step([60, 64, 67], [60], 0)
    saved = listener.snapshot()
    first = listener.step([62], [62], 1)
    listener.restore(saved)
    assert listener.step([62], [62], 1) == first
    listener.reset()
    assert all(not s.any() for s in listener.state) and not listener.key_probs.any()


def test_the_recogniser_and_the_listen_command_never_import_torch() -> None:
    code = ("import sys; import sideman.bridge.listen.recogniser, sideman.bridge.offline.listen; "
            "assert 'torch' not in sys.modules and 'music21' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_shipped_listener_is_small_and_loads() -> None:
    assert DEFAULT_LISTENER.stat().st_size < 1024 * 1024
    listener = Recogniser.load()
    assert listener.contract.receptive_field >= 4 * 16  # at least four 4/4 bars of 16ths
