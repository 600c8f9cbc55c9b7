"""Training that scales out: a 2-process CPU run through torchrun, resuming, and DDP = one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("music21")

from sideman.models import run_state  # noqa: E402
from sideman.models import train as tr  # noqa: E402
from sideman.models.checkpoint import load_checkpoint  # noqa: E402
from sideman.models.network import NetConfig  # noqa: E402

TINY = ["--limit", "12", "--epochs", "1", "--batch", "8", "--window", "32", "--hidden", "16", "--embed", "4",
        "--dropout", "0", "--threads", "1", "--no-progress"]


def test_two_processes_train_through_torchrun_like_one(cache, tmp_path):
    out = tmp_path / "ddp.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "sideman.models.train", *TINY, "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("best epoch 1") == 1  # rank 0 alone reports
    run = json.loads(run_state.run_json_path(out).read_text())
    assert run["world_size"] == 2 and run["ranks_joined"] == 2
    assert run["data"]["splits_hash"] and run["data"]["code_key"]
    assert load_checkpoint(out)[1]["world_size"] == 2
    assert run_state.state_path(out).is_file()
    # Each rank's loss is scaled to the global batch, and without dropout every rank computes what one
    # process computes on its share: the same losses as one process on the same global batches.
    assert tr.main([*TINY, "--out", str(tmp_path / "one.pt")]) == 0
    one = json.loads(run_state.run_json_path(tmp_path / "one.pt").read_text())
    ddp_loss, one_loss = run["metrics"]["history"][0]["train_loss"], one["metrics"]["history"][0]["train_loss"]
    assert ddp_loss == pytest.approx(one_loss, rel=1e-5)
    assert run["metrics"]["valid_nll"] == pytest.approx(one["metrics"]["valid_nll"], rel=1e-4)


def test_resume_continues_from_the_saved_step(cache, tmp_path):
    net = NetConfig(hidden=16, embed=4)
    cfg = tr.TrainConfig(epochs=2, batch=8, window=32, limit=12, seed=1, threads=1, patience=5)
    whole = tr.train(net, cfg, tmp_path / "whole.pt", "test", progress=False)
    first = tr.train(net, tr.TrainConfig(**{**cfg.__dict__, "max_minutes": 0.0}), tmp_path / "cut.pt", "test",
                     progress=False)
    assert [h["epoch"] for h in first["history"]] == [1]  # stopped after the epoch that passed the time limit
    saved = run_state.load_state(run_state.state_path(tmp_path / "cut.pt"))
    assert saved["epoch"] == 1 and saved["step"] == first["steps"]
    resumed = tr.train(net, cfg, tmp_path / "cut.pt", "test", progress=False,
                       resume=run_state.state_path(tmp_path / "cut.pt"))
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert resumed["steps"] == whole["steps"] == 2 * first["steps"]
    a = run_state.load_state(run_state.state_path(tmp_path / "whole.pt"))["model"]
    b = run_state.load_state(run_state.state_path(tmp_path / "cut.pt"))["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k  # the interrupted run ends where the whole one does


def test_resume_rejects_a_checkpoint_that_is_not_a_training_state(cache, tmp_path):
    from sideman.bridge.errors import CheckpointError

    tr.train(NetConfig(hidden=16, embed=4), tr.TrainConfig(epochs=1, batch=8, window=32, limit=12, threads=1),
             tmp_path / "m.pt", "test", progress=False)
    with pytest.raises(CheckpointError, match="not a Sideman training state"):
        run_state.load_state(tmp_path / "m.pt")
