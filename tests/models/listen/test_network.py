"""models/listen/network.py and train.py: causal, step == forward, windows scored only with real context."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sideman.bridge.listen.features import N_FEATURES, PHASE, SOUNDING  # noqa: E402
from sideman.bridge.listen.names import NO_CHORD  # noqa: E402
from sideman.models.listen.data import IGNORE  # noqa: E402
from sideman.models.listen.network import ListenConfig, ListenNet  # noqa: E402
from sideman.models.listen.train import Pool, TrainConfig, sample_batch  # noqa: E402

CFG = ListenConfig(channels=8, dilations=(1, 2, 4), dropout=0.0)  # receptive field 15


def net(seed: int = 0) -> ListenNet:
    torch.manual_seed(seed)
    return ListenNet(CFG).eval()


def test_the_answer_at_a_step_depends_only_on_the_receptive_field_before_it() -> None:
    model, rf = net(), CFG.receptive_field
    assert rf == 15
    x = torch.rand(1, 60, N_FEATURES)
    key, chord = model(x)
    later = x.clone()
    later[0, 40:] = torch.rand(20, N_FEATURES)  # the future of step 39
    earlier = x.clone()
    earlier[0, : 39 - rf + 1] = 0  # the past beyond step 39's receptive field
    inside = x.clone()
    inside[0, 39 - rf + 1] += 1  # the oldest step it hears
    for changed, same in ((later, True), (earlier, True), (inside, False)):
        k, c = model(changed)
        assert torch.allclose(k[0, 39], key[0, 39]) == same and torch.allclose(c[0, 39], chord[0, 39]) == same


def test_step_by_step_is_the_whole_sequence() -> None:
    model = net(1)
    x = torch.rand(50, N_FEATURES)
    key, chord = model(x[None])
    caches = model.initial_state()
    for t in range(50):
        k, c, *caches = model.step(x[t], *caches)
        assert torch.allclose(k, torch.softmax(key[0, t], -1), atol=1e-6)
        assert torch.allclose(c, torch.softmax(chord[0, t], -1), atol=1e-6)
    assert [tuple(c.shape) for c in caches] == model.cache_shapes() == [(1, 8, 2), (1, 8, 4), (1, 8, 8)]


def test_training_windows_are_transposed_consistently_and_scored_only_with_context() -> None:
    T = 100
    x = np.zeros((T, N_FEATURES), np.float16)
    x[:, SOUNDING + 7] = 1  # a G sounding throughout: key G major (7), chord G (7)
    x[np.arange(T), PHASE + np.arange(T) % 4] = 1
    pool = Pool(x, np.full(T, 7, np.int16), np.r_[np.full(T - 1, 7), [NO_CHORD]].astype(np.int16),
                np.array([0]), np.array([T]))
    pools = {f"{source}, {heard}": pool for source in SOURCES for heard in ("melody", "full")} | {"folk": pool}
    cfg = TrainConfig(batch=64, window=40, p_start=0.5)
    xb, key, chord = sample_batch(pools, np.random.default_rng(0), cfg, receptive_field=15)
    starts = mids = 0
    for b in range(64):
        shift = int(np.flatnonzero(xb[b, 0, SOUNDING : SOUNDING + 12])[0]) - 7
        scored = np.flatnonzero(key[b] != IGNORE)
        assert set(key[b, scored]) == {(7 + shift) % 12}
        assert set(chord[b, scored]) <= {(7 + shift) % 12, NO_CHORD}
        if scored[0] == 0:
            starts += 1
        else:
            mids += 1
            assert scored[0] == 14  # the first 14 steps of a window from mid-tune lack their past
    assert starts and mids


SOURCES = ("nottingham", "jsb", "chorales", "madrigals")


@pytest.mark.parametrize("shares, wanted", [((0.0, 0.0, 0.0), {"nottingham"}), ((1.0, 0.0, 0.0), {"chorales"}),
                                            ((0.0, 1.0, 0.0), {"jsb"}), ((0.0, 0.0, 1.0), {"madrigals"}),
                                            ((0.4, 0.2, 0.2), set(SOURCES))])
def test_chord_windows_come_from_each_source_by_its_share(shares, wanted) -> None:
    """Each pool's windows are marked in a feature no transposition moves (the beat phase); the madrigals
    share folk's mark, as folk windows are only the first of a batch."""
    T = 20
    pools = {}
    for i, name in enumerate(["folk", *(f"{source}, {heard}" for source in SOURCES for heard in ("melody", "full"))]):
        x = np.zeros((T, N_FEATURES), np.float16)
        x[:, PHASE + (i + 1) // 2 % 4] = 1  # folk 0, then one mark per source
        pools[name] = Pool(x, np.zeros(T, np.int16), np.zeros(T, np.int16), np.array([0]), np.array([T]))
    cfg = TrainConfig(batch=64, window=8, p_start=1.0, key_share=0.25, chorale_share=shares[0], jsb_share=shares[1],
                      madrigal_share=shares[2])
    xb, _, _ = sample_batch(pools, np.random.default_rng(0), cfg, receptive_field=3)
    marks = np.argmax(xb[:, 0, PHASE : PHASE + 4], axis=-1)
    assert (marks[:16] == 0).all() and {SOURCES[m - 1] for m in marks[16:]} == wanted


def test_training_can_start_from_a_checkpoints_weights(tmp_path) -> None:
    from sideman.models.checkpoint import save_checkpoint
    from sideman.models.listen.train import initial_model

    trained = net(1)
    save_checkpoint(tmp_path / "l.pt", trained, {})
    started = initial_model(CFG, tmp_path / "l.pt")
    assert all(torch.equal(a, b) for a, b in zip(started.state_dict().values(), trained.state_dict().values()))
    fresh = initial_model(CFG, None)
    assert not all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), trained.state_dict().values()))
    with pytest.raises(ValueError, match="network settings"):
        initial_model(ListenConfig(**{**CFG.to_dict(), "channels": CFG.channels * 2}), tmp_path / "l.pt")
