"""Distillation on the student's own pasts (on-policy, DAgger-style): the student plays a training
window feeding back its own sampled parts, the teacher (whole tune in view, lead known) gives its
per-step distributions teacher-forced on those sampled parts, and the student learns them on the same
sampled pasts, so that its targets cover the pasts it produces when it plays.

`train --rollout-share s` turns that share of the student's batches into such batches; their loss is
models/train.py `batch_loss` with no data term (`real` 0), the KL from the teacher alone, plus with
`--rl-weight` the policy gradient of models/reward.py. With a reward and no teacher, the frozen starting
weights (`--init`) take the teacher's place as the KL anchor, which keeps the parts near what they were.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sideman.bridge.model.contract import Vocab
from sideman.models.batches import IGNORE, forward_batch
from sideman.models.reward import advantages, harmony_reward


@torch.no_grad()
def student_parts(student: Any, b: dict[str, Tensor], temperature: float,
                  generator: torch.Generator | None = None) -> Tensor:
    """The student's own parts [B,W,P] for the batch's windows: it reads the batch's lead (hidden steps
    stay hidden), starts from the window's first previous parts and then feeds back its samples."""
    net = getattr(student, "module", student)  # under DistributedDataParallel
    was_training = net.training
    net.eval()
    out = net.sample_parts(b["lead"], b["prev_lead"], b["position"], b["prev_parts"][:, 0], temperature, generator,
                           key=b.get("key"))
    net.train(was_training)
    return out


@torch.no_grad()
def rollout_batch(student: Any, teacher: Any, b: dict[str, Tensor], temperature: float,
                  generator: torch.Generator | None = None, discount: float | None = None) -> dict[str, Tensor]:
    """The batch with its parts replaced by the student's samples and its soft targets by the teacher's
    distributions on them (`b` needs the whole tunes: sample_batch(..., whole_tunes=True)). With `discount`,
    also the samples' advantages under models/reward.py's harmony reward, for the policy-gradient term."""
    parts = student_parts(student, b, temperature, generator)
    scored = b["target"] != IGNORE
    parts = torch.where(scored, parts, b["parts_now"])  # padding keeps its rests
    prev_parts = torch.cat([b["prev_parts"][:, :1], parts[:, :-1]], dim=1)
    W = parts.shape[1]
    steps = (b["start"][:, None] + torch.arange(W, device=parts.device)[None]).clamp(max=b["melody"].shape[1] - 1)
    lead_known = torch.where(scored[..., 0], b["melody"].gather(1, steps), torch.full_like(b["lead"], Vocab().rest))
    out = {**b, "prev_parts": prev_parts, "parts_now": parts, "target": torch.where(scored, parts, b["target"]),
           "real": torch.zeros(parts.shape[0], device=parts.device)}
    teacher.eval()
    soft = torch.softmax(forward_batch(teacher, {**out, "lead": lead_known}, offline=bool(teacher.cfg.encoder)),
                         dim=-1)
    if discount is not None:
        out["advantage"] = advantages(harmony_reward(lead_known, parts), scored, discount)
    return {**out, "soft": soft}
