"""The harmony reward and its policy-gradient term (models/reward.py, `train --rl-weight`)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sideman.bridge.model.contract import Vocab  # noqa: E402
from sideman.models import train as tr  # noqa: E402
from sideman.models.distributed import Ranks  # noqa: E402
from sideman.models.network import ChoraleNet, NetConfig  # noqa: E402
from sideman.models.metrics import sounding  # noqa: E402
from sideman.models.reward import advantages, harmony_reward, returns  # noqa: E402

V = Vocab()
R, H = V.rest, V.hold


def test_sounding_carries_holds_and_a_hold_before_any_onset_is_unknown() -> None:
    """The reward hears the parts through models/metrics.sounding (time first)."""
    tokens = torch.tensor([[H, V.onset(60), H, R, H, V.onset(64)]])
    assert sounding(tokens.numpy().T)[0].T.tolist() == [[-1, 60, 60, -1, -1, 64]]


def test_the_reward_counts_each_parts_dissonance_and_the_tune_note_in_the_chord() -> None:
    lead = torch.tensor([[V.onset(60), H, H, V.onset(62), R]])
    parts = torch.tensor([[[V.onset(55), V.onset(52), V.onset(48)],  # G E C under C: the tune's C in the chord
                           [H, H, H],
                           [V.onset(61), H, R],  # C# against C: the alto clashes; E is a third; the bass rests
                           [H, H, R],  # under D: C# and E are both seconds
                           [H, H, H]]])  # the tune rests: nothing counts
    expected = [[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [-1, 0, 0], [-1, -1, 0], [0, 0, 0]]]
    assert harmony_reward(lead, parts).tolist() == expected


def test_returns_discount_the_later_steps_and_advantages_ignore_unscored_steps() -> None:
    r = torch.tensor([[[1.0], [0.0], [-1.0]]])
    assert returns(r, 0.5).flatten().tolist() == [0.75, -0.5, -1.0]
    scored = torch.tensor([[[True], [True], [False]]])
    a = advantages(r, scored, 0.5)
    assert a[0, 2, 0] == 0 and abs(float(a[scored].mean())) < 1e-6


def test_the_policy_gradient_makes_a_rewarded_choice_likelier() -> None:
    """batch_loss with the KL weighted 0 and advantages +1 on one token, -1 on another: one SGD step raises
    the first token's probability and lowers the second's."""
    torch.manual_seed(0)
    net = ChoraleNet(NetConfig(hidden=16, embed=8, dropout=0.0))
    B, T, P = 2, 6, 3
    good, bad = V.onset(60), V.onset(61)
    b = {"lead": torch.full((B, T), V.onset(72)), "prev_lead": torch.full((B, T), H),
         "prev_parts": torch.full((B, T, P), H), "position": torch.zeros((B, T, 2), dtype=torch.long),
         "real": torch.zeros(B), "soft": torch.full((B, T, P, V.size), 1.0 / V.size)}
    b["target"] = torch.full((B, T, P), H)
    b["target"][0, :, 0], b["target"][1, :, 0] = good, bad
    b["parts_now"] = b["target"].clone()
    b["advantage"] = torch.zeros((B, T, P))
    b["advantage"][0, :, 0], b["advantage"][1, :, 0] = 1.0, -1.0

    def alto_logp() -> tuple[float, float]:
        with torch.no_grad():
            logits, _ = net(b["lead"], b["prev_lead"], b["prev_parts"], b["position"], b["parts_now"])
            logp = torch.log_softmax(logits[0, 0, 0], -1)
        return float(logp[good]), float(logp[bad])

    before = alto_logp()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    loss, reported = tr.batch_loss(net, b, Ranks(), kd_weight=0.0, rl_weight=1.0, rl_temperature=0.8)
    assert reported == 0.0 and loss.item() != 0.0  # the reported loss leaves the policy term out
    loss.backward()
    opt.step()
    after = alto_logp()
    assert after[0] > before[0] and after[1] < before[1]
