"""Distillation on the student's own sampled parts (models/rollout.py, `train --rollout-share`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("music21")

from sideman.bridge.model.contract import Vocab  # noqa: E402
from sideman.models import train as tr  # noqa: E402
from sideman.models.batches import IGNORE, forward_batch  # noqa: E402
from sideman.models.checkpoint import save_checkpoint  # noqa: E402
from sideman.models.data import Piece  # noqa: E402
from sideman.models.network import ChoraleNet, NetConfig, allowed_mask  # noqa: E402
from sideman.models.rollout import rollout_batch  # noqa: E402
from sideman.models.teacher import TeacherNet  # noqa: E402
from tests.models.test_teacher import randomised  # noqa: E402

V = Vocab()
SMALL = NetConfig(hidden=16, embed=8)
TEACHER = NetConfig(hidden=16, embed=8, encoder=8)


def piece(T: int, seed: int) -> Piece:
    rng = np.random.default_rng(seed)
    tokens = np.full((T, 4), V.hold, dtype=np.int64)
    tokens[::2, 0] = [V.onset(int(p)) for p in rng.integers(60, 80, (T + 1) // 2)]
    for k, (lo, hi) in enumerate(SMALL.part_ranges):
        tokens[::2, k + 1] = [V.onset(int(p)) for p in rng.integers(lo, hi + 1, (T + 1) // 2)]
    pos = np.stack([np.arange(T) % 4, (np.arange(T) // 4) % 4], axis=1)
    return Piece(f"p{seed}", tokens, pos)


def test_the_student_is_scored_on_its_own_parts_with_the_teachers_targets_on_them():
    pieces = [piece(40, 1), piece(12, 2)]  # the short one pads its windows
    cfg = tr.TrainConfig(batch=8, window=24, p_start=0.5)
    soft = [np.zeros((len(p.tokens), 3, V.size), np.float32) for p in pieces]
    nb = tr.sample_batch(pieces, np.random.default_rng(0), cfg, soft=soft, real=np.ones(2, np.float32),
                         whole_tunes=True)
    b = {k: torch.from_numpy(v) for k, v in nb.items()}
    student, teacher = randomised(ChoraleNet(SMALL)), randomised(TeacherNet(TEACHER), 1)
    r = rollout_batch(student.train(), teacher, b, 1.0, torch.Generator().manual_seed(0))
    assert student.training  # sampling leaves the student in the mode it found it in
    scored = b["target"] != IGNORE
    assert torch.equal(r["target"] == IGNORE, ~scored)  # padding stays unscored
    assert not torch.equal(r["parts_now"][scored], b["parts_now"][scored])  # its own parts, not the data's
    allowed = allowed_mask(SMALL)
    for k in range(3):
        assert allowed[k, r["parts_now"][..., k][scored[..., k]]].all()
    assert torch.equal(r["prev_parts"][:, 1:], r["parts_now"][:, :-1])  # it reads back what it played
    assert torch.equal(r["prev_parts"][:, 0], b["prev_parts"][:, 0])
    assert torch.equal(r["lead"], b["lead"]) and (r["real"] == 0).all()  # the teacher's targets alone
    # The teacher's targets: its distributions teacher-forced on the sampled parts, the lead known.
    lead_known = np.full((8, 24), V.rest)
    for j in range(8):
        n = min(24, nb["lengths"][j] - nb["start"][j])
        lead_known[j, :n] = nb["melody"][j, nb["start"][j] : nb["start"][j] + n]
    lead_known = torch.from_numpy(lead_known)
    with torch.no_grad():
        want = torch.softmax(forward_batch(teacher, {**r, "lead": lead_known}, offline=True), -1)
    assert torch.allclose(r["soft"], want)
    assert torch.allclose(r["soft"].sum(-1), torch.ones(8, 24, 3))


def tiny(tmp_path, share: float) -> dict:
    save_checkpoint(tmp_path / "t.pt", randomised(TeacherNet(TEACHER)))
    cfg = tr.TrainConfig(epochs=1, batch=8, window=32, limit=12, seed=3, threads=1, teacher=str(tmp_path / "t.pt"),
                         rollout_share=share)
    return tr.train(SMALL, cfg, tmp_path / f"s{share}.pt", "test", progress=False)


def counted_rollouts(monkeypatch) -> list[int]:
    from sideman.models import rollout

    calls, real = [], rollout.rollout_batch
    monkeypatch.setattr(rollout, "rollout_batch", lambda *a: calls.append(1) or real(*a))
    return calls


def test_a_rollout_share_of_one_plays_every_batch_and_of_zero_none(cache, tmp_path, monkeypatch):
    calls = counted_rollouts(monkeypatch)
    meta = tiny(tmp_path, 1.0)
    assert len(calls) == meta["steps"] > 0 and np.isfinite(meta["valid_nll"])
    assert meta["train_config"]["rollout_share"] == 1.0
    calls.clear()
    tiny(tmp_path, 0.0)
    assert calls == []


def test_rollouts_need_a_teacher_or_a_reward_and_starting_weights(cache, tmp_path):
    cfg = tr.TrainConfig(epochs=1, batch=8, window=32, limit=12, threads=1, rollout_share=0.5)
    with pytest.raises(ValueError, match="--teacher"):
        tr.train(SMALL, cfg, tmp_path / "s.pt", "test", progress=False)
    with pytest.raises(ValueError, match="--init"):
        tr.train(SMALL, replace(cfg, rl_weight=1.0), tmp_path / "s.pt", "test", progress=False)


def test_without_a_teacher_the_starting_weights_anchor_the_rollouts_and_the_reward_scores_them():
    """An online anchor (the frozen --init network) gives the soft targets on the sampled parts, with the
    true lead; the advantages are the reward's, zero on the padding."""
    from sideman.models.reward import advantages, harmony_reward

    pieces = [piece(40, 1), piece(12, 2)]
    cfg = tr.TrainConfig(batch=8, window=24, p_start=0.5)
    nb = tr.sample_batch(pieces, np.random.default_rng(0), cfg, whole_tunes=True)
    b = {k: torch.from_numpy(v) for k, v in nb.items()}
    student, anchor = randomised(ChoraleNet(SMALL)), randomised(ChoraleNet(SMALL), 1)
    r = rollout_batch(student, anchor, b, 1.0, torch.Generator().manual_seed(0), discount=0.75)
    scored = b["target"] != IGNORE
    lead_known = torch.full((8, 24), V.rest, dtype=torch.long)
    for j in range(8):
        n = min(24, int(nb["lengths"][j] - nb["start"][j]))
        lead_known[j, :n] = b["melody"][j, nb["start"][j] : nb["start"][j] + n]
    with torch.no_grad():
        want = torch.softmax(forward_batch(anchor, {**r, "lead": lead_known}, offline=False), -1)
    assert torch.allclose(r["soft"], want) and (r["real"] == 0).all()
    assert torch.equal(r["advantage"], advantages(harmony_reward(lead_known, r["parts_now"]), scored, 0.75))
    assert (r["advantage"][~scored] == 0).all() and (r["advantage"][scored] != 0).any()
