"""A reward for harmony with the tune, for fine-tuning the student on its own rollouts (REINFORCE).

Per part and step: -1 when the part forms a dissonance with the sounding tune note (minor/major second,
tritone, minor/major seventh, in pitch classes: models/quality's clash, without its fourth-against-the-bass
rule), and `in_chord` when the tune's pitch class is among the pitch classes the parts sound. The return
at a step sums the rewards of the steps after it, discounted by `discount` per step, since a note struck
now keeps sounding (and clashing) until it is released. `train --rl-weight` adds the policy-gradient
term on the rollout batches (models/rollout.py), beside the teacher's KL, which keeps the parts from
drifting from music (a rest clashes with nothing, but the teacher rarely rests).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sideman.bridge.model.contract import Vocab
from sideman.models.metrics import sounding
from sideman.models.quality.measures import DISSONANT


def harmony_reward(lead: Tensor, parts: Tensor, in_chord: float = 0.5, vocab: Vocab = Vocab()) -> Tensor:
    """lead tokens [B,T], part tokens [B,T,P] -> reward [B,T,P] (see the module doc)."""
    voices = torch.cat([lead[..., None], parts], dim=-1).cpu().numpy()  # [B,T,1+P], the tune first
    pitch = sounding(voices.swapaxes(0, 1), vocab)[0].swapaxes(0, 1)  # time first for `sounding`
    tune, parts_pitch = pitch[..., :1], pitch[..., 1:]
    both = (tune >= 0) & (parts_pitch >= 0)
    interval = (parts_pitch - tune) % 12
    clash = both & np.isin(interval, DISSONANT)
    in_chord_now = (both & (interval == 0)).any(axis=-1, keepdims=True)
    return torch.from_numpy(in_chord * in_chord_now - clash.astype(np.float32)).float().to(lead.device)


def returns(reward: Tensor, discount: float) -> Tensor:
    """reward [B,T,P] -> discounted sum of the rewards from each step on, within the window [B,T,P]."""
    out = torch.empty_like(reward)
    running = torch.zeros_like(reward[:, 0])
    for t in range(reward.shape[1] - 1, -1, -1):
        running = reward[:, t] + discount * running
        out[:, t] = running
    return out


def advantages(reward: Tensor, scored: Tensor, discount: float) -> Tensor:
    """Returns, centred and scaled over the scored steps of the batch (0 elsewhere) [B,T,P]."""
    g = returns(torch.where(scored, reward, torch.zeros_like(reward)), discount)
    values = g[scored]
    if values.numel() < 2:
        return torch.zeros_like(g)
    a = (g - values.mean()) / (values.std() + 1e-6)
    return torch.where(scored, a, torch.zeros_like(a))
