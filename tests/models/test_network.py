"""ChoraleNet: forward == repeated sample_step, sample_step == ordered greedy decoding, top-p, checkpoints."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sideman.bridge.model.contract import Vocab  # noqa: E402
from sideman.bridge.errors import CheckpointError  # noqa: E402
from sideman.models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from sideman.models.network import ChoraleNet, NetConfig, allowed_mask, effective_top_p, nucleus  # noqa: E402

V = Vocab().size


def small_net(seed: int = 0, **kw) -> ChoraleNet:
    torch.manual_seed(seed)
    cfg = NetConfig(**{"hidden": 24, "embed": 8, **kw})
    net = ChoraleNet(cfg).eval()
    # random (not zero-initialised) biases so every path matters
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def random_inputs(B: int, T: int, P: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    lead = torch.randint(0, V, (B, T), generator=g)
    prev_lead = torch.randint(0, V, (B, T), generator=g)
    prev_parts = torch.randint(0, V, (B, T, P), generator=g)
    position = torch.stack([torch.randint(0, 4, (B, T), generator=g), torch.randint(0, 8, (B, T), generator=g)], -1)
    parts_now = torch.randint(0, V, (B, T, P), generator=g)
    return lead, prev_lead, prev_parts, position, parts_now


def step_inputs(noise=None, temperature=1.0, top_p=1.0, bias=None, P: int = 3):
    return (
        torch.zeros(P, V) if noise is None else noise,
        torch.tensor([temperature]),
        torch.tensor([top_p]),
        torch.zeros(P, V) if bias is None else bias,
    )


def allowed_parts(T: int, cfg: NetConfig, seed: int = 4) -> torch.Tensor:
    """[1, T, P] part tokens each part may produce (a forced token must not be one the range mask forbids)."""
    g = torch.Generator().manual_seed(seed)
    allowed = allowed_mask(cfg)
    choices = [allowed[k].nonzero()[:, 0] for k in range(cfg.n_parts)]
    return torch.stack([c[torch.randint(0, len(c), (1, T), generator=g)] for c in choices], dim=-1)


@pytest.mark.parametrize("kw", [{}, {"layers": 2}, {"embed": 6}, {"key_input": 24}],
                         ids=["one-layer", "two-layer", "two-input-tables", "key-input"])
def test_forward_equals_repeated_sample_step_forced_to_the_true_tokens(kw):
    """Training's forward and the exported step are one computation: forcing the step's choices to the
    teacher's tokens (through logit_bias, as score_onnx does) gives forward's logits and state."""
    net = small_net(**kw)
    T = 11
    lead, prev_lead, prev_parts, position, _ = random_inputs(1, T)
    parts_now = allowed_parts(T, net.cfg)
    rows = torch.arange(3)
    key = torch.softmax(3 * torch.randn(1, T, 24, generator=torch.Generator().manual_seed(7)), -1)
    key_now = (lambda t: key[0, t]) if net.cfg.key_input else (lambda t: None)
    with torch.no_grad():
        logits, final = net(lead, prev_lead, prev_parts, position, parts_now,
                            key=key if net.cfg.key_input else None)
        state = net.initial_state(1)
        noise = torch.randn(3, V)  # forcing must win over noise too
        for t in range(T):
            bias = torch.full((3, V), -1e9)
            bias[rows, parts_now[0, t]] = 0.0
            step_logits, tokens, state = net.sample_step(lead[:, t], prev_lead[:, t], prev_parts[0, t], position[0, t],
                                                         state, *step_inputs(noise=noise, top_p=0.9, bias=bias),
                                                         key_probs=key_now(t))
            assert tokens.tolist() == parts_now[0, t].tolist()
            torch.testing.assert_close(step_logits, logits[0, t], atol=1e-5, rtol=0)
    torch.testing.assert_close(state, final, atol=1e-5, rtol=0)
    assert logits.shape == (1, T, 3, V)
    assert state.shape == (net.cfg.layers, 1, 24)
    assert net.one_table == ("embed" not in kw)  # both input encodings were exercised


def test_head_conditioning_follows_decode_order():
    # Changing the chosen bass token must change tenor and alto logits but not the bass logits.
    net = small_net()
    lead, prev_lead, prev_parts, position, parts_now = random_inputs(1, 1)
    with torch.no_grad():
        a, _ = net(lead, prev_lead, prev_parts, position, parts_now)
        changed = parts_now.clone()
        changed[..., 2] = (changed[..., 2] + 7) % V
        b, _ = net(lead, prev_lead, prev_parts, position, changed)
    assert torch.equal(a[..., 2, :], b[..., 2, :])
    assert not torch.allclose(a[..., 1, :], b[..., 1, :])
    assert not torch.allclose(a[..., 0, :], b[..., 0, :])


def greedy_via_forward(net, lead, prev_lead, prev_parts, position, state):
    """Ordered greedy decoding using only the teacher-forced `forward` over one step: choose bass, then tenor
    given it, ..."""
    chosen = torch.zeros(1, 1, 3, dtype=torch.long)
    logits_out = torch.zeros(3, V)
    for part in net.cfg.decode_order:
        logits, new_state = net(lead[None], prev_lead[None], prev_parts[None, None], position[None, None], chosen,
                                state)
        logits_out[part] = logits[0, 0, part]
        chosen[0, 0, part] = int(logits[0, 0, part].argmax())
    return logits_out, chosen[0, 0], new_state


def test_sample_step_zero_noise_is_ordered_greedy():
    net = small_net()
    lead, prev_lead, prev_parts, position, _ = random_inputs(1, 6, seed=5)
    state_a = state_b = net.initial_state(1)
    with torch.no_grad():
        for t in range(6):
            args = (lead[:, t], prev_lead[:, t], prev_parts[0, t], position[0, t])
            logits, tokens, state_a = net.sample_step(*args, state_a, *step_inputs())
            ref_logits, ref_tokens, state_b = greedy_via_forward(net, *args, state_b)
            torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=0)
            assert tokens.dtype == torch.int64 and tokens.shape == (3,)
            assert tokens.tolist() == ref_tokens.tolist()
            torch.testing.assert_close(state_a, state_b, atol=1e-5, rtol=0)


def test_sample_step_never_leaves_part_ranges_and_obeys_bias():
    net = small_net()
    allowed = allowed_mask(net.cfg)
    lead, prev_lead, prev_parts, position, _ = random_inputs(1, 30, seed=9)
    bias = torch.zeros(3, V)
    bias[:, Vocab().rest] = -1e9  # forbid rests
    g = torch.Generator().manual_seed(3)
    state = net.initial_state(1)
    with torch.no_grad():
        for t in range(30):
            u = torch.rand(3, V, generator=g).clamp(1e-6, 1 - 1e-6)
            noise = -torch.log(-torch.log(u))
            _, tokens, state = net.sample_step(lead[:, t], prev_lead[:, t], prev_parts[0, t], position[0, t], state,
                                               *step_inputs(noise=3 * noise, temperature=2.0, bias=bias))
            for k, tok in enumerate(tokens.tolist()):
                assert allowed[k, tok], (k, tok)
                assert tok != Vocab().rest


def test_nucleus_keeps_smallest_set_reaching_top_p():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    z = torch.log(probs)
    kept = torch.isfinite(nucleus(z, torch.tensor([0.7]))).tolist()
    assert kept == [True, True, False, False]  # 0.5 < 0.7, 0.5+0.3 >= 0.7
    kept = torch.isfinite(nucleus(z, torch.tensor([0.8]))).tolist()
    assert kept == [True, True, False, False]
    kept = torch.isfinite(nucleus(z, torch.tensor([0.81]))).tolist()
    assert kept == [True, True, True, False]
    kept = torch.isfinite(nucleus(z, torch.tensor([0.01]))).tolist()
    assert kept == [True, False, False, False]
    assert torch.isfinite(nucleus(z, torch.tensor([1.0]))).all()
    # order of the entries does not matter
    perm = torch.tensor([2, 0, 3, 1])
    kept = torch.isfinite(nucleus(z[perm], torch.tensor([0.7]))).tolist()
    assert kept == [False, True, False, True]


def test_top_p_one_keeps_every_token_despite_rounding():
    z = torch.tensor([[20.0] + [-20.0] * 51])  # one token holds all but ~1e-17 of the mass
    assert not torch.isfinite(nucleus(z, torch.tensor([1.0]))).all()  # the float sum reaches 1.0 early
    assert torch.isfinite(nucleus(z, effective_top_p(torch.tensor([1.0])))).all()
    assert torch.equal(effective_top_p(torch.tensor([0.9])), torch.tensor([0.9]))


def test_sample_step_top_p_tiny_is_greedy_even_with_noise():
    net = small_net()
    lead, prev_lead, prev_parts, position, _ = random_inputs(1, 1, seed=2)
    args = (lead[:, 0], prev_lead[:, 0], prev_parts[0, 0], position[0, 0])
    noise = torch.randn(3, V) * 50
    with torch.no_grad():
        _, greedy, _ = net.sample_step(*args, net.initial_state(1), *step_inputs())
        _, tiny, _ = net.sample_step(*args, net.initial_state(1), *step_inputs(noise=noise, top_p=1e-4))
    assert greedy.tolist() == tiny.tolist()


def test_checkpoint_round_trip(tmp_path):
    net = small_net()
    path = tmp_path / "net.pt"
    save_checkpoint(path, net, {"command": "sideman train --quick", "valid_nll": 1.25, "splits": ["a", "b"]})
    loaded, meta = load_checkpoint(path)
    assert loaded.cfg == net.cfg
    assert meta == {"command": "sideman train --quick", "valid_nll": 1.25, "splits": ["a", "b"]}
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    raw = torch.load(path, weights_only=True)  # plain types only
    assert raw["config"]["decode_order"] == [2, 1, 0]


def test_checkpoint_errors_name_the_file(tmp_path):
    net = small_net()
    good = tmp_path / "good.pt"
    save_checkpoint(good, net, {})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    junk = tmp_path / "junk.pt"
    junk.write_text("hello")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    mismatch = tmp_path / "mismatch.pt"
    doc = torch.load(good, weights_only=True)
    doc["config"]["hidden"] = 32
    torch.save(doc, mismatch)
    for bad in (truncated, junk, other, mismatch, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(bad)
        msg = str(info.value)
        assert str(bad) in msg and "\n" not in msg


def test_config_dict_round_trip_and_validation():
    cfg = NetConfig(hidden=64, layers=2, decode_order=(0, 1, 2))
    assert NetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        NetConfig.from_dict({**cfg.to_dict(), "decode_order": [0, 0, 1]})
    with pytest.raises(ValueError):
        NetConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_default_part_ranges_match_the_data():
    from sideman.models.data import PARTS, STEPS_PER_BEAT, MAX_BEATS_IN_BAR
    from sideman.models.network import DEFAULT_PART_RANGES

    cfg = NetConfig()
    assert DEFAULT_PART_RANGES == tuple((p.low, p.high) for p in PARTS)
    assert (cfg.steps_per_beat, cfg.max_beats_in_bar, cfg.vocab_size) == (STEPS_PER_BEAT, MAX_BEATS_IN_BAR, V)


def test_the_key_input_changes_the_answer_and_none_means_nothing_heard():
    """A network with a key input reads it (two keys give two answers); no key is every key alike."""
    net = small_net(key_input=24)
    lead, prev_lead, prev_parts, position, parts_now = random_inputs(1, 6)
    c_major, f_sharp_major = torch.zeros(1, 6, 24), torch.zeros(1, 6, 24)
    c_major[..., 0], f_sharp_major[..., 6] = 1.0, 1.0
    with torch.no_grad():
        in_c, _ = net(lead, prev_lead, prev_parts, position, parts_now, key=c_major)
        in_f_sharp, _ = net(lead, prev_lead, prev_parts, position, parts_now, key=f_sharp_major)
        unheard, _ = net(lead, prev_lead, prev_parts, position, parts_now)
        uniform, _ = net(lead, prev_lead, prev_parts, position, parts_now, key=torch.full((1, 6, 24), 1 / 24))
    assert (in_c - in_f_sharp).abs().max() > 1e-3
    torch.testing.assert_close(unheard, uniform)


def test_warm_start_gives_a_key_input_network_the_answers_of_the_one_without():
    """`train --init` into a network with a key input: the key's input weights start at zero, so the new
    network begins exactly where the old one was, whatever key it hears."""
    import tempfile
    from pathlib import Path

    from sideman.models.checkpoint import warm_start

    old = small_net()
    new = ChoraleNet(NetConfig(hidden=24, embed=8, key_input=24)).eval()
    with tempfile.TemporaryDirectory() as d:
        save_checkpoint(Path(d) / "old.pt", old)
        fresh = warm_start(new, Path(d) / "old.pt")
    assert fresh == []
    lead, prev_lead, prev_parts, position, parts_now = random_inputs(1, 9)
    key = torch.softmax(torch.randn(1, 9, 24), -1)
    with torch.no_grad():
        torch.testing.assert_close(new(lead, prev_lead, prev_parts, position, parts_now, key=key)[0],
                                   old(lead, prev_lead, prev_parts, position, parts_now)[0])
