"""The offline teacher hears the whole tune; distillation's loss; warm starts; folk tunes as lead-only pieces."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sideman.bridge.errors import CheckpointError  # noqa: E402
from sideman.bridge.model.contract import Vocab  # noqa: E402
from sideman.models import folk  # noqa: E402
from sideman.models import train as tr  # noqa: E402
from sideman.models.checkpoint import build_network, load_checkpoint, save_checkpoint, warm_start  # noqa: E402
from sideman.models.data import LEAD, Piece  # noqa: E402
from sideman.models.distill import kd_terms  # noqa: E402
from sideman.models.network import ChoraleNet, NetConfig, allowed_mask  # noqa: E402
from sideman.models.teacher import TeacherNet  # noqa: E402

V = Vocab()


def tune_piece(name: str, pitches: list[int], seed: int = 0) -> Piece:
    """A piece whose lead plays `pitches` as 8ths and whose parts are random allowed tokens."""
    rng = np.random.default_rng(seed)
    T = 2 * len(pitches)
    tokens = np.full((T, 4), V.hold, dtype=np.int64)
    tokens[::2, 0] = [V.onset(p) for p in pitches]
    for k, (lo, hi) in enumerate(NetConfig().part_ranges):
        tokens[::2, k + 1] = [V.onset(int(p)) for p in rng.integers(lo, hi + 1, len(pitches))]
    return Piece(name, tokens, folk.positions_4_4(T))


def randomised(net, seed: int = 0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net.eval()


def logits_of(net, pieces):
    b = {k: torch.from_numpy(v) for k, v in tr.full_batch(pieces).items()}
    with torch.no_grad():
        return tr.forward_batch(net, b, bool(net.cfg.encoder))


CFG = NetConfig(hidden=16, embed=8, encoder=8)


def test_the_teacher_hears_the_future_and_the_student_does_not():
    a = tune_piece("a", [60, 62, 64, 65, 67, 69, 71, 72])
    b = Piece("b", a.tokens.copy(), a.position)
    b.tokens[10, 0] = V.onset(61)  # the tune differs only from step 10 on
    teacher, student = randomised(TeacherNet(CFG)), randomised(ChoraleNet(NetConfig(hidden=16, embed=8)))
    t, s = logits_of(teacher, [a, b]), logits_of(student, [a, b])
    assert not torch.allclose(t[0, :10], t[1, :10])
    assert torch.allclose(s[0, :10], s[1, :10])


def test_padding_after_a_tune_never_reaches_it():
    short, long = tune_piece("s", [60, 64, 67, 72]), tune_piece("l", [72, 71, 69, 67, 65, 64, 62, 60, 59, 60], 1)
    teacher = randomised(TeacherNet(CFG))
    alone, together = logits_of(teacher, [short]), logits_of(teacher, [short, long])
    assert torch.allclose(alone[0], together[0, : len(short.tokens)], atol=1e-5)


def test_a_teacher_warm_started_from_a_student_starts_as_that_student(tmp_path):
    student = randomised(ChoraleNet(NetConfig(hidden=16, embed=8)))
    save_checkpoint(tmp_path / "s.pt", student)
    teacher = TeacherNet(CFG)
    fresh = warm_start(teacher, tmp_path / "s.pt")
    assert fresh and all(not n.startswith("net.") for n in fresh)  # only the tune encoder is new
    piece = tune_piece("a", [60, 62, 64, 65, 67, 69])
    assert torch.allclose(logits_of(teacher.eval(), [piece]), logits_of(student, [piece]), atol=1e-5)


def test_teacher_checkpoints_load_as_teachers_and_do_not_export(tmp_path):
    from sideman.export.onnx_export import export_checkpoint

    teacher = randomised(TeacherNet(CFG))
    save_checkpoint(tmp_path / "t.pt", teacher)
    again, _ = load_checkpoint(tmp_path / "t.pt")
    assert isinstance(again, TeacherNet)
    piece = tune_piece("a", [60, 62, 64])
    assert torch.equal(logits_of(again, [piece]), logits_of(teacher, [piece]))
    with pytest.raises(CheckpointError, match="cannot run live"):
        export_checkpoint(tmp_path / "t.pt", tmp_path / "t.onnx", "test")
    assert not (tmp_path / "t.onnx").exists()


def test_teacher_harmonizations_stay_in_range_and_stop_with_the_tune():
    teacher = randomised(TeacherNet(CFG))
    pieces = [tune_piece("a", [60, 62, 64, 65]), tune_piece("b", [67, 65, 64, 62, 60, 59])]
    b = {k: torch.from_numpy(v) for k, v in tr.full_batch(pieces).items()}
    parts = teacher.harmonize(b["melody"], b["position"], b["lengths"], 1.0, torch.Generator().manual_seed(0))
    allowed = allowed_mask(CFG)
    for k in range(3):
        assert allowed[k, parts[..., k]].all()
    assert (parts[0, len(pieces[0].tokens):] == V.rest).all()
    again = teacher.harmonize(b["melody"], b["position"], b["lengths"], 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(parts, again)


def test_kd_terms_vanish_when_the_student_matches_the_teacher():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 3, V.size, generator=g)
    target = torch.randint(0, V.size, (2, 5, 3), generator=g)
    target[1, 3:] = tr.IGNORE
    ce, kl, mask = kd_terms(logits, target, torch.softmax(logits, -1).half(), tr.IGNORE)
    assert kl.abs().max() < 1e-2 and (ce[~mask] == 0).all() and mask.sum() == 24
    full = torch.nn.functional.cross_entropy(logits.reshape(-1, V.size), target.reshape(-1), ignore_index=tr.IGNORE,
                                             reduction="sum")
    assert ce.sum() == pytest.approx(full.item(), rel=1e-5)
    _, kl_other, _ = kd_terms(logits, target, torch.softmax(-logits, -1), tr.IGNORE)
    assert (kl_other[mask] > 0.1).all()


def test_folk_melodies_become_lead_tokens_in_the_soprano_range(tmp_path):
    frames = [[48, 52, 55, 88], [48, 52, 55, 88], [], [55, 59, 86], [55, 59, 62, 91]]
    pitches = folk.melody_pitches(frames)
    assert pitches.tolist() == [88, 88, -1, 86, 91]
    assert folk.lead_shift(pitches) == -12  # an octave down fits 74..79 into 60..81
    tokens = folk.melody_tokens(np.where(pitches >= 0, pitches - 12, -1))
    assert tokens.tolist() == [V.onset(76), V.hold, V.hold, V.hold, V.rest, V.rest, V.onset(74), V.hold,
                               V.onset(79), V.hold]
    wide = [[40], [90]]  # 50 semitones: no shift fits
    path = tmp_path / "n.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump({"train": [frames, wide], "valid": [], "test": []}, f)
    pieces = folk.nottingham_pieces("train", path=path)
    assert [p.name for p in pieces] == ["nottingham-train-0"]
    lead = pieces[0].tokens[:, 0]
    ons = lead[lead >= V.onset_offset] - V.onset_offset + V.pitch_min
    assert ons.min() >= LEAD.low and ons.max() <= LEAD.high and (pieces[0].tokens[:, 1:] == V.rest).all()


def lowest_onset(piece: Piece) -> int:
    lead = piece.tokens[:, 0]
    return int((lead[lead >= V.onset_offset] - V.onset_offset + V.pitch_min).min())


def write_tunes(path, tunes) -> None:
    with gzip.open(path, "wt") as f:
        json.dump({"train": tunes, "valid": [], "test": []}, f)


# Six-note tunes in C, 60..67 before any shift: the soprano range (21 semitones) fits them in every key.
C_TUNES = [[[60 + (i + k) % 8] for k in range(6)] + [[60], [67]] for i in range(40)]


def test_folk_tunes_with_a_seed_go_into_many_keys_within_the_soprano_range(tmp_path):
    path = tmp_path / "n.json.gz"
    write_tunes(path, C_TUNES)
    plain = folk.nottingham_pieces("train", path=path)
    assert {lowest_onset(p) for p in plain} == {60}  # without a seed every tune keeps its octave and key
    keyed = folk.nottingham_pieces("train", path=path, seed=3)
    shifts = [lowest_onset(p) - 60 for p in keyed]
    assert len({s % 12 for s in shifts}) >= 8
    for p in keyed:
        lead = p.tokens[:, 0]
        ons = lead[lead >= V.onset_offset] - V.onset_offset + V.pitch_min
        assert ons.min() >= LEAD.low and ons.max() <= LEAD.high
    assert [lowest_onset(p) for p in folk.nottingham_pieces("train", path=path, seed=3)] == [s + 60 for s in shifts]
    assert all(-6 <= s <= 11 for s in shifts)  # the octave nearest the tune's own


def test_a_tune_that_fits_one_key_only_keeps_it():
    pitches = np.array([60, 81, -1, 70])  # spans the whole soprano range
    rng = np.random.default_rng(0)
    assert {folk.lead_shift(pitches, rng) for _ in range(20)} == {0}
    assert folk.lead_shift(np.array([40, 90]), rng) is None


def test_the_student_hears_the_teachers_folk_harmonizations_in_many_keys(tmp_path, monkeypatch):
    from sideman.models.distill import distilled_data

    path = tmp_path / "n.json.gz"
    write_tunes(path, C_TUNES)
    monkeypatch.setenv("SIDEMAN_NOTTINGHAM", str(path))
    save_checkpoint(tmp_path / "t.pt", randomised(TeacherNet(CFG)))
    cfg = tr.TrainConfig(teacher=str(tmp_path / "t.pt"), folk=len(C_TUNES))
    chorale = tune_piece("c", [60, 62, 64, 65])
    pieces, soft, real, info = distilled_data(cfg, [chorale], progress=False)
    harmonized = pieces[1:]
    assert info["folk"]["tunes"] == len(harmonized) == len(C_TUNES) and real.tolist() == [1.0] + [0.0] * len(C_TUNES)
    assert len({lowest_onset(p) % 12 for p in harmonized}) >= 8
    assert len(soft) == len(pieces) and all(s.shape[0] == len(p.tokens) for s, p in zip(soft, pieces))
