"""The recogniser: a causal dilated 1-D CNN over 16th-note steps, answering the key and the chord at every step.

    features [B, T, F] --linear--> h [B, T, C]
    for each dilation d:  h = h + relu(W_d [h(t-(k-1)d), ..., h(t-d), h(t)] + b_d)   (a causal conv, kernel k)
    key logits [B, T, 24] = linear(h);  chord logits [B, T, 49] = linear(h)

The answer at step t depends on steps t-R+1..t (R = `receptive_field`: 1 + (k-1) x sum of dilations,
127 steps, about eight 4/4 bars, by default) and never on the future; before the first step every
layer hears silence (zeros). `forward` is the training form over whole windows, each convolution
written as its k taps side by side and one matrix product (on a CPU several times faster than
torch's dilated Conv1d at these sizes); `step` is the same function for one step, each layer a
Conv1d over its cache and the new step: layer i keeps the last (k-1) x d_i inputs it saw, so a
step costs the same at any time. `export/listen_export.py` traces `step`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sideman.bridge.listen.features import N_FEATURES
from sideman.bridge.listen.names import N_CHORDS, N_KEYS


@dataclass(frozen=True)
class ListenConfig:
    """Everything needed to rebuild a ListenNet; stored in every checkpoint as a plain dict."""

    channels: int = 64
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    dropout: float = 0.0
    n_features: int = N_FEATURES
    n_keys: int = N_KEYS
    n_chords: int = N_CHORDS

    @property
    def receptive_field(self) -> int:
        return 1 + (self.kernel - 1) * sum(self.dilations)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "dilations": list(self.dilations)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ListenConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown ListenConfig keys {sorted(unknown)}")
        cfg = cls(**{**d, "dilations": tuple(int(x) for x in d.get("dilations", cls.dilations))})
        if min(cfg.channels, cfg.kernel - 1, *cfg.dilations) < 1:
            raise ValueError("channels, dilations and kernel - 1 must be positive")
        return cfg


class ListenNet(nn.Module):
    def __init__(self, cfg: ListenConfig) -> None:
        super().__init__()
        self.cfg = cfg
        C = cfg.channels
        self.inp = nn.Linear(cfg.n_features, C)
        self.convs = nn.ModuleList(nn.Linear(cfg.kernel * C, C) for _ in cfg.dilations)  # taps oldest first
        self.drop = nn.Dropout(cfg.dropout)
        self.key_head = nn.Linear(C, cfg.n_keys)
        self.chord_head = nn.Linear(C, cfg.n_chords)

    def cache_shapes(self) -> list[tuple[int, int, int]]:
        """The state of `step`: per layer [1, C, (k-1) x d], that layer's last inputs, oldest first."""
        return [(1, self.cfg.channels, (self.cfg.kernel - 1) * d) for d in self.cfg.dilations]

    def initial_state(self) -> list[Tensor]:
        return [torch.zeros(shape) for shape in self.cache_shapes()]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, T, F] -> key logits [B, T, 24], chord logits [B, T, 49]; silence before step 0."""
        k, T = self.cfg.kernel, x.shape[1]
        h = self.inp(x)  # [B, T, C]
        for conv, d in zip(self.convs, self.cfg.dilations):
            past = F.pad(h, (0, 0, (k - 1) * d, 0))  # [B, (k-1)d + T, C]
            taps = torch.cat([past[:, j * d : j * d + T] for j in range(k)], dim=-1)  # [B, T, kC]
            h = h + self.drop(torch.relu(conv(taps)))
        return self.key_head(h), self.chord_head(h)

    def step(self, x: Tensor, *caches: Tensor) -> tuple[Tensor, ...]:
        """One step of `forward` (eval mode): x [F], caches as `cache_shapes()`
        -> key probabilities [24], chord probabilities [49], the caches after this step."""
        C, k = self.cfg.channels, self.cfg.kernel
        h = self.inp(x.reshape(1, -1)).reshape(1, C, 1)
        new_caches = []
        for conv, cache, d in zip(self.convs, caches, self.cfg.dilations):
            window = torch.cat([cache, h], dim=2)  # [1, C, (k-1)d + 1]: the taps are its columns 0, d, ..., (k-1)d
            new_caches.append(window[:, :, 1:])
            weight = conv.weight.reshape(C, k, C).permute(0, 2, 1)  # [C out, C in, k]
            h = h + torch.relu(F.conv1d(window, weight, conv.bias, dilation=d))
        h = h.reshape(1, C)
        key = torch.softmax(self.key_head(h).reshape(-1), dim=0)
        chord = torch.softmax(self.chord_head(h).reshape(-1), dim=0)
        return (key, chord, *new_caches)


def load_listener(path: Any) -> tuple[ListenNet, dict[str, Any]]:
    """A listener checkpoint (models/checkpoint.py's format) as a ListenNet in eval mode, and its metadata."""
    from sideman.models.checkpoint import load_checkpoint

    return load_checkpoint(path, ListenNet, ListenConfig)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
