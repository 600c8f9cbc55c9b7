"""Training and evaluation end to end on a dozen pieces (`--quick`), batches, reproducibility."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("music21")

from sideman.bridge.model.contract import Vocab  # noqa: E402
from sideman.models import evaluate as ev  # noqa: E402
from sideman.models import train as tr  # noqa: E402
from sideman.models.checkpoint import load_checkpoint  # noqa: E402
from sideman.models.data import PARTS, Piece, load_dataset  # noqa: E402
from sideman.models.network import NetConfig, allowed_mask  # noqa: E402

V = Vocab()


@pytest.fixture(scope="module")
def quick_checkpoint(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "quick.pt"
    assert tr.main(["--quick", "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    return out


def toy_piece(T: int = 10) -> Piece:
    tokens = np.zeros((T, 4), dtype=np.int64)
    for v, base in enumerate((72, 65, 60, 48)):
        tokens[:, v] = [V.onset(base + t % 3) if t % 2 == 0 else V.hold for t in range(T)]
    pos = np.stack([np.arange(T) % 4, (np.arange(T) // 4) % 4], axis=1)
    return Piece("toy.mxl", tokens, pos)


def test_sample_batch_shifts_pads_and_hides_the_lead():
    piece = toy_piece(10)
    cfg = tr.TrainConfig(batch=200, window=16, p_unknown=0.35, p_start=1.0)
    b = tr.sample_batch([piece], np.random.default_rng(0), cfg)
    assert b["lead"].shape == (200, 16) and b["prev_parts"].shape == (200, 16, 3) and b["position"].shape == (200, 16, 2)
    # windows start at 0 (p_start=1): prev tokens are the true ones one step earlier, rests before the start
    assert (b["prev_lead"][:, 0] == V.rest).all() and (b["prev_parts"][:, 0] == V.rest).all()
    assert (b["prev_lead"][:, 1:10] == piece.tokens[None, :9, 0]).all()
    assert (b["prev_parts"][:, 1:10] == piece.tokens[None, :9, 1:]).all()
    assert (b["target"][:, :10] == piece.tokens[None, :, 1:]).all()
    assert (b["target"][:, 10:] == tr.IGNORE).all()  # padding beyond the 10-step piece
    assert (b["parts_now"][:, :10] == piece.tokens[None, :, 1:]).all()
    lead = b["lead"][:, :10]
    hidden = lead == V.unknown
    assert 0.3 < hidden.mean() < 0.4
    assert (lead[~hidden] == np.broadcast_to(piece.tokens[:, 0], lead.shape)[~hidden]).all()
    assert (b["prev_lead"] != V.unknown).all()


def tiny_run(out, cache_dir):
    net = NetConfig(hidden=16, embed=4)
    cfg = tr.TrainConfig(epochs=1, batch=16, window=32, limit=12, seed=3, threads=1)
    return tr.train(net, cfg, out, "test", progress=False)


def test_training_is_reproducible(cache, tmp_path):
    meta_a = tiny_run(tmp_path / "a.pt", cache)
    meta_b = tiny_run(tmp_path / "b.pt", cache)
    a, _ = load_checkpoint(tmp_path / "a.pt")
    b, _ = load_checkpoint(tmp_path / "b.pt")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert meta_a["valid_nll"] == meta_b["valid_nll"]


def test_quick_training_writes_a_loadable_checkpoint(quick_checkpoint):
    model, meta = load_checkpoint(quick_checkpoint)
    assert model.cfg.hidden == 32
    assert meta["command"].startswith("sideman train --quick")
    assert len(meta["history"]) == 2 and meta["best_epoch"] in (1, 2)
    assert meta["valid_nll"] == min(h["valid_nll"] for h in meta["history"])
    assert len(meta["splits_hash"]) == 16 and meta["split_sizes"]["valid"] >= 1
    # it learned something: better than uniform over a part's allowed tokens (at most 2 + 29 tokens)
    assert meta["valid_nll"] < np.log(31)


def test_harmonize_keeps_the_lead_and_the_ranges(cache, quick_checkpoint):
    model, _ = load_checkpoint(quick_checkpoint)
    piece = load_dataset(limit=12, progress=False).pieces["valid"][0]
    out = ev.harmonize(model, piece, temperature=1.0, top_p=0.95, seed=0)
    assert out.shape == piece.tokens.shape
    assert (out[:, 0] == piece.tokens[:, 0]).all()
    allowed = allowed_mask(model.cfg).numpy()
    for k in range(len(PARTS)):
        assert allowed[k, out[:, k + 1]].all()
    again = ev.harmonize(model, piece, temperature=1.0, top_p=0.95, seed=0)
    assert (again == out).all()  # same seed, same music


def test_evaluate_command_writes_json(cache, quick_checkpoint, tmp_path, capsys):
    path = tmp_path / "eval.json"
    code = ev.main(["--checkpoint", str(quick_checkpoint), "--split", "valid", "--limit", "12",
                    "--temperature", "0.8", "1.0", "--json", str(path), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "n-gram, lead known" in printed and "model T=0.8" in printed
    result = json.loads(path.read_text())
    rows = result["teacher_forced"]["rows"]
    assert set(rows) == {"network, lead known", "network, lead unknown", "unigram", "n-gram, lead known"}
    for row in rows.values():
        assert len(row["nll"]) == 3 and all(x > 0 for x in row["nll"])
        assert all(0 <= a <= 1 for a in row["accuracy"])
    bach = result["free_running"]["bach"]
    assert 0.5 < bach["consonance_all"] <= 1.0  # Bach is mostly consonant
    assert bach["out_of_range_notes"] == 0
    assert set(result["free_running"]["model"]) == {"0.8", "1", "0.8 unguarded"}
    assert result["free_running"]["model"]["0.8"]["parallels_per_100"] == 0.0  # the guard bans all it counts


def test_quick_defaults_do_not_touch_the_committed_model(cache):
    import argparse

    parser = argparse.ArgumentParser()
    tr.add_train_arguments(parser)
    net, cfg, out = tr.configs_from_args(parser.parse_args(["--quick"]))
    assert out != tr.DEFAULT_OUT and str(out).startswith(str(cache))
    assert cfg.limit == 12 and net.hidden == 32
    net, cfg, out = tr.configs_from_args(parser.parse_args([]))
    assert out == tr.DEFAULT_OUT and net.hidden == 128 and cfg.limit is None
    assert replace(cfg, seed=1).seed == 1


def test_keep_last_keeps_the_weights_the_run_ended_with(cache, tmp_path):
    """With a reward the valid NLL (against Bach) may rise while the parts improve, so --keep-last keeps the
    last epoch's weights (those of the resume state), whatever the NLL did: here a learning rate so high that
    the last epoch scores worse than the one before it."""
    from sideman.models import run_state

    net = NetConfig(hidden=16, embed=4)
    cfg = tr.TrainConfig(epochs=3, batch=16, window=32, limit=12, seed=3, threads=1, lr=5.0, keep_last=True)
    meta = tr.train(net, cfg, tmp_path / "last.pt", "test", progress=False)
    nll = [h["valid_nll"] for h in meta["history"]]
    assert min(nll) < nll[-1]  # a run keeping the best would not keep the last
    assert meta["best_epoch"] == 3 and meta["valid_nll"] == nll[-1]
    kept, _ = load_checkpoint(tmp_path / "last.pt")
    final = run_state.load_state(run_state.state_path(tmp_path / "last.pt"))["model"]
    for k, v in kept.state_dict().items():
        assert torch.equal(v, final[k]), k
