"""The offline teacher: the step network of models/network.py, told the whole tune in advance.

A non-causal encoder reads the tune's lead tokens (with their metrical positions) over the whole
piece: dilated convolutions see 8 bars before and after each step, and a mean over the whole tune is
added to every step (its key, its range). Its output at step t joins the step GRU's input at t.
(Convolutions, not a recurrent encoder: on a CPU a GRU's cost grows with the sequence length, and the
encoder must read whole pieces while the step GRU trains on windows, as the student does.) The parts are then decoded exactly as the online network decodes them
(`ChoraleNet._decode`, same order and heads). It cannot run live (it needs the future), so it is
never exported: it is the upper reference of the evaluation tables and the source of the student's
soft targets (models/distill.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sideman.models.network import ChoraleNet, NetConfig

DILATIONS = (1, 2, 4, 8, 16, 32, 64)  # kernel 3: 128 steps (8 bars of 4/4) each side of a step


class TeacherNet(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        cfg.validate()
        if cfg.encoder < 1:
            raise ValueError("a teacher needs encoder >= 1")
        self.cfg = cfg
        V, E, C = cfg.vocab_size, cfg.embed, cfg.encoder
        self.tune_embed = nn.Embedding(V, E)
        self.tune_step = nn.Embedding(cfg.steps_per_beat, E)
        self.tune_beat = nn.Embedding(cfg.max_beats_in_bar, E)
        self.tune_in = nn.Conv1d(E, C, 1)
        self.tune_convs = nn.ModuleList(nn.Conv1d(C, C, 3, dilation=d, padding=d) for d in DILATIONS)
        self.net = ChoraleNet(cfg)  # its step GRU takes 2 * encoder more inputs

    def initial_state(self, batch: int = 1) -> Tensor:
        return self.net.initial_state(batch)

    def encode(self, melody: Tensor, melody_position: Tensor, lengths: Tensor) -> Tensor:
        """melody [B,T] (the true lead tokens of whole pieces), melody_position [B,T,2], lengths [B]
        -> [B,T,2*encoder]: the local encoding, then the whole tune's mean; padding is zeroed."""
        live = (torch.arange(melody.shape[1], device=melody.device)[None] < lengths[:, None])[:, None].float()
        x = self.tune_embed(melody) + self.tune_step(melody_position[..., 0]) + self.tune_beat(melody_position[..., 1])
        y = self.tune_in(x.transpose(1, 2)) * live  # [B,C,T]
        for conv in self.tune_convs:
            y = (y + torch.relu(conv(y))) * live
        whole = y.sum(-1, keepdim=True) / lengths[:, None, None].clamp(min=1)
        return torch.cat([y, whole.expand_as(y)], dim=1).transpose(1, 2)

    def forward(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor, parts_now: Tensor,
                melody: Tensor, melody_position: Tensor, lengths: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher-forced: ChoraleNet.forward's inputs for windows [B,W] plus the whole tunes they come from
        (melody [B,T], melody_position [B,T,2], lengths [B]) and each window's first step in it (start [B])
        -> logits [B,W,P,V], state."""
        context = self.encode(melody, melody_position, lengths)
        W = lead.shape[1]
        steps = (start[:, None] + torch.arange(W, device=lead.device)[None]).clamp(max=context.shape[1] - 1)
        window = context.gather(1, steps[..., None].expand(-1, -1, context.shape[-1]))
        return self.net(lead, prev_lead, prev_parts, position, parts_now, context=window)

    @torch.no_grad()
    def harmonize(self, melody: Tensor, position: Tensor, lengths: Tensor, temperature: float,
                  generator: torch.Generator | None = None) -> Tensor:
        """Sample parts for a batch of whole tunes, one step at a time, feeding back its own choices:
        melody [B,T], position [B,T,2], lengths [B] -> parts [B,T,P] tokens (rests after each end)."""
        from sideman.bridge.model.contract import Vocab

        vocab = Vocab()
        B, T = melody.shape
        context = self.encode(melody, position, lengths)
        prev_lead = torch.cat([torch.full((B, 1), vocab.rest, dtype=torch.long), melody[:, :-1]], dim=1)
        prev_parts = torch.full((B, self.cfg.n_parts), vocab.rest, dtype=torch.long)
        out = self.net.sample_parts(melody, prev_lead, position, prev_parts, temperature, generator, context)
        live = torch.arange(T)[None, :] < lengths[:, None]
        return torch.where(live[..., None], out, torch.full_like(out, vocab.rest))

