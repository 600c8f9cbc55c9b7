"""The answer model: a GRU over a melody's 16th-note tokens, predicting the next step's token.

    prev token [B, T] --embed--> [B, T, E]    phase of the step predicted [B, T] --embed--> [B, T, P]
    concat --GRU--> h [B, T, H] --linear--> logits [B, T, V]

Tokens are the chorale vocabulary's (`sideman.bridge.model.contract.Vocab`: rest, hold, unknown, one onset
per pitch) over a melody's range. The call primes it (its tokens stepped through in order), then it samples
the answer one step at a time. `forward` trains on whole windows; `step` is the same function for one step
with the state passed in and out, the form `export/melody_export.py` traces and the bridge runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from sideman.bridge.model.melody import MELODY_VOCAB

STEPS_PER_BEAT = 4


@dataclass(frozen=True)
class MelodyConfig:
    """Everything needed to rebuild a MelodyNet; stored in every checkpoint as a plain dict."""

    hidden: int = 256
    token_dim: int = 64
    phase_dim: int = 8
    vocab_size: int = MELODY_VOCAB.size
    steps_per_beat: int = STEPS_PER_BEAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MelodyConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown MelodyConfig keys {sorted(unknown)}")
        return cls(**d)


class MelodyNet(nn.Module):
    def __init__(self, cfg: MelodyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.token = nn.Embedding(cfg.vocab_size, cfg.token_dim)
        self.phase = nn.Embedding(cfg.steps_per_beat, cfg.phase_dim)
        self.gru = nn.GRU(cfg.token_dim + cfg.phase_dim, cfg.hidden, batch_first=True)
        self.out = nn.Linear(cfg.hidden, cfg.vocab_size)

    def forward(self, prev: Tensor, phase: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """prev, phase [B, T] int64 -> logits [B, T, V], state [1, B, H]."""
        x = torch.cat([self.token(prev), self.phase(phase)], dim=-1)  # [B, T, E + P]
        h, state = self.gru(x, state)
        return self.out(h), state

    def step(self, prev: Tensor, phase: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """prev, phase (1,) int64, state (1, 1, H) -> logits (V,), next state (1, 1, H)."""
        logits, state = self.forward(prev[None], phase[None], state)
        return logits[0, 0], state

    def initial_state(self) -> Tensor:
        return torch.zeros(1, 1, self.cfg.hidden)


def load_melody_net(path: Any) -> tuple[MelodyNet, dict[str, Any]]:
    """A checkpoint written by `sideman train-melody` -> (network in eval mode, its meta)."""
    from sideman.bridge.errors import CheckpointError

    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
        net = MelodyNet(MelodyConfig.from_dict(doc["config"]))
        net.load_state_dict(doc["state_dict"])
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a melody checkpoint ({str(exc).splitlines()[0][:200]})") from None
    return net.eval(), dict(doc.get("meta", {}))
