"""export/melody_export.py: the answer model's step graph runs in the bridge's runtime exactly as torch, or is not written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from sideman.bridge.errors import ModelError  # noqa: E402
from sideman.bridge.engines import DEFAULT_MODEL  # noqa: E402
from sideman.bridge.model.melody import MELODY_METADATA_KEY, MELODY_VOCAB, MelodyContract, MelodyModel, melody_tokens  # noqa: E402
from sideman.export import melody_export  # noqa: E402
from sideman.export.melody_export import export_melody  # noqa: E402
from sideman.models.melody.network import MelodyConfig, MelodyNet  # noqa: E402
from tests.export.test_listen_export import random_tunes as listen_tunes  # noqa: E402

CFG = MelodyConfig(hidden=16, token_dim=8, phase_dim=4)


def small_net(seed: int) -> MelodyNet:
    torch.manual_seed(seed)
    return MelodyNet(CFG).eval()


def random_tunes(n: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """The listener tests' random tunes, their melodies (the notes above the chords) as tokens."""
    return [(melody_tokens([x for x in t.notes if x[2] >= 55], len(t.phase)), np.asarray(t.phase)) for t in listen_tunes(n)]


def test_the_exported_answer_model_steps_like_torch(tmp_path: Path) -> None:
    path, contract, parity = export_melody(small_net(0), {"command": "sideman train-melody"}, tmp_path / "melody.onnx",
                                           "test export", random_tunes(), "random tunes")
    assert parity.steps == 450 and parity.argmax_mismatches == 0 and parity.max_logit_diff <= melody_export.TOLERANCE
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    stored = MelodyContract.from_json({p.key: p.value for p in model.metadata_props}[MELODY_METADATA_KEY])
    assert stored.hidden == 16 and stored.vocab == MELODY_VOCAB and stored.provenance["export_command"] == "test export"
    loaded = MelodyModel.load(path)
    assert loaded.contract == stored
    # The state carries: the same input after different histories gives different logits; reset forgets them.
    loaded.step(MELODY_VOCAB.onset(60), 0)
    after_c = loaded.step(MELODY_VOCAB.rest, 1).copy()
    loaded.reset()
    loaded.step(MELODY_VOCAB.onset(79), 0)
    after_g = loaded.step(MELODY_VOCAB.rest, 1).copy()
    loaded.reset()
    loaded.step(MELODY_VOCAB.onset(60), 0)
    assert not np.allclose(after_c, after_g) and np.allclose(loaded.step(MELODY_VOCAB.rest, 1), after_c)


def test_a_graph_that_disagrees_with_torch_is_not_written(tmp_path: Path, monkeypatch) -> None:
    real = melody_export.export_graph
    monkeypatch.setattr(melody_export, "export_graph", lambda net: real(small_net(1)))  # another network's weights
    with pytest.raises(ModelError, match="ONNX and torch disagree"):
        export_melody(small_net(0), {}, tmp_path / "melody.onnx", "test export", random_tunes(1), "random tunes")
    assert list(tmp_path.iterdir()) == []


def test_a_model_of_another_contract_is_refused_in_one_line() -> None:
    with pytest.raises(ModelError, match="not a Sideman answer model"):
        MelodyModel.load(DEFAULT_MODEL)
