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

import torch
from torch import Tensor

from sideman.bridge.model.contract import Vocab

DISSONANT_CLASSES = (1, 2, 6, 10, 11)


def sounding(tokens: Tensor, vocab: Vocab = Vocab()) -> Tensor:
    """Tokens [..., T] -> sounding MIDI pitch [..., T] (-1 silent); a hold keeps the last onset's pitch, and a
    hold before any onset in view counts as silent (its pitch is not known)."""
    T = tokens.shape[-1]
    steps = torch.arange(T, device=tokens.device).expand_as(tokens)
    last = torch.where(tokens != vocab.hold, steps, torch.full_like(steps, -1)).cummax(dim=-1).values
    at = tokens.gather(-1, last.clamp(min=0))
    pitch = at - vocab.onset_offset + vocab.pitch_min
    return torch.where((last >= 0) & (at >= vocab.onset_offset), pitch, torch.full_like(pitch, -1))


def harmony_reward(lead: Tensor, parts: Tensor, in_chord: float = 0.5, vocab: Vocab = Vocab()) -> Tensor:
    """lead tokens [B,T], part tokens [B,T,P] -> reward [B,T,P] (see the module doc)."""
    tune = sounding(lead, vocab)[..., None]  # [B,T,1]
    voices = sounding(parts.transpose(1, 2), vocab).transpose(1, 2)  # [B,T,P]
    both = (tune >= 0) & (voices >= 0)
    interval = (voices - tune) % 12
    clash = both & torch.isin(interval, torch.tensor(DISSONANT_CLASSES, device=lead.device))
    in_chord_now = (both & (interval == 0)).any(dim=-1, keepdim=True)
    return in_chord * in_chord_now.float() - clash.float()


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
