"""Distillation on the student's own pasts (on-policy, DAgger-style): the student plays a training
window feeding back its own sampled parts, the teacher (whole tune in view, lead known) gives its
per-step distributions teacher-forced on those sampled parts, and the student learns them on the same
sampled pasts, so that its targets cover the pasts it produces when it plays.

`train --rollout-share s` turns that share of the student's batches into such batches; their loss is
models/train.py `batch_loss` with no data term (`real` 0), the KL from the teacher alone.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sideman.bridge.model.contract import Vocab
from sideman.models.batches import IGNORE, forward_batch


@torch.no_grad()
def student_parts(student: Any, b: dict[str, Tensor], temperature: float,
                  generator: torch.Generator | None = None) -> Tensor:
    """The student's own parts [B,W,P] for the batch's windows: it reads the batch's lead (hidden steps
    stay hidden), starts from the window's first previous parts and then feeds back its samples."""
    net = getattr(student, "module", student)  # under DistributedDataParallel
    was_training = net.training
    net.eval()
    B, W, P = b["target"].shape
    state = net.initial_state(B).to(b["lead"].device)
    prev_parts = b["prev_parts"][:, 0]
    out = torch.empty_like(b["target"])

    def pick(_part: int, raw: Tensor, _chosen: object) -> Tensor:
        return torch.multinomial(torch.softmax(raw / temperature, dim=-1), 1, generator=generator)[:, 0]

    for t in range(W):
        raw_in = torch.cat([b["lead"][:, t, None], b["prev_lead"][:, t, None], prev_parts, b["position"][:, t]], -1)
        _, state = net.gru(net._inputs(raw_in)[None], state)
        _, tokens = net._decode(state[-1], pick)
        prev_parts = torch.stack(tokens, dim=-1)
        out[:, t] = prev_parts
    net.train(was_training)
    return out


@torch.no_grad()
def rollout_batch(student: Any, teacher: Any, b: dict[str, Tensor], temperature: float,
                  generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """The batch with its parts replaced by the student's samples and its soft targets by the teacher's
    distributions on them (`b` needs the whole tunes: sample_batch(..., whole_tunes=True))."""
    parts = student_parts(student, b, temperature, generator)
    scored = b["target"] != IGNORE
    parts = torch.where(scored, parts, b["parts_now"])  # padding keeps its rests
    prev_parts = torch.cat([b["prev_parts"][:, :1], parts[:, :-1]], dim=1)
    W = parts.shape[1]
    steps = (b["start"][:, None] + torch.arange(W, device=parts.device)[None]).clamp(max=b["melody"].shape[1] - 1)
    lead_known = torch.where(scored[..., 0], b["melody"].gather(1, steps), torch.full_like(b["lead"], Vocab().rest))
    out = {**b, "prev_parts": prev_parts, "parts_now": parts, "target": torch.where(scored, parts, b["target"]),
           "real": torch.zeros_like(b["real"])}
    teacher.eval()
    soft = torch.softmax(forward_batch(teacher, {**out, "lead": lead_known}, offline=True), dim=-1)
    return {**out, "soft": soft}
