"""export/listen_export.py: the listener graph runs in the bridge's runtime exactly as torch, or is not written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from sideman.bridge.errors import ModelError  # noqa: E402
from sideman.bridge.listen.contract import LISTENER_METADATA_KEY, ListenerContract  # noqa: E402
from sideman.bridge.listen.recogniser import Recogniser  # noqa: E402
from sideman.export import listen_export  # noqa: E402
from sideman.export.listen_export import Tune, export_listener  # noqa: E402
from sideman.models.listen.network import ListenConfig, ListenNet  # noqa: E402

CFG = ListenConfig(channels=8, dilations=(1, 2, 4, 8), dropout=0.0)


def small_net(seed: int) -> ListenNet:
    torch.manual_seed(seed)
    return ListenNet(CFG).eval()


def random_tunes(n: int = 3, steps: int = 150) -> list[Tune]:
    rng = np.random.default_rng(1)
    tunes = []
    for i in range(n):
        notes, t = [], 0
        while t < steps:
            d = int(rng.integers(1, 6))
            notes.append((t, t + d, int(rng.integers(55, 80))))
            if rng.random() < 0.3:  # a chord under it
                notes.append((t, t + d + 2, int(rng.integers(36, 55))))
            t += d + int(rng.integers(0, 2))
        tunes.append(Tune(f"random {i}", notes, (np.arange(steps) + i) % 4))
    return tunes


def test_the_exported_listener_steps_like_torch(tmp_path: Path) -> None:
    path, contract, parity = export_listener(small_net(0), {"command": "sideman train-listener --quick"},
                                             tmp_path / "listener.onnx", "test export", random_tunes(), "random tunes")
    assert parity.steps == 450 and parity.answer_mismatches == 0 and parity.max_prob_diff <= listen_export.TOLERANCE
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    stored = ListenerContract.from_json(meta[LISTENER_METADATA_KEY])
    assert stored.receptive_field == 31 and [s.shape for s in stored.state] == [(1, 8, 2), (1, 8, 4), (1, 8, 8), (1, 8, 16)]
    assert stored.provenance["parity"]["answer_mismatches"] == 0 and stored.provenance["export_command"] == "test export"
    assert Recogniser.load(path).contract == stored


def test_a_graph_that_disagrees_with_torch_is_not_written(tmp_path: Path, monkeypatch) -> None:
    real = listen_export.export_graph
    monkeypatch.setattr(listen_export, "export_graph", lambda net: real(small_net(1)))  # another network's weights
    out = tmp_path / "listener.onnx"
    with pytest.raises(ModelError, match="ONNX and torch disagree"):
        export_listener(small_net(0), {}, out, "test export", random_tunes(1), "random tunes")
    assert list(tmp_path.iterdir()) == []
