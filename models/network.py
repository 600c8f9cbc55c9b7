"""The step-wise chorale network: a GRU over 16th-note steps with ordered per-part heads.

At step t the GRU reads the lead token at t (possibly `unknown`), the true lead token at t-1, the part
tokens played at t-1 and the metrical position, and updates its hidden state h_t. The parts at t are then
decoded one after the other in `decode_order` (default bass, tenor, alto): the head of each part sees h_t
plus embeddings of the tokens already chosen for the parts before it. Training uses the teacher-forced
`forward` over whole windows; `step` is the same computation for one step; `sample_step` is the
batch-1 graph that `export/` traces into ONNX (see docs/model-contract.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from sideman.bridge.model.contract import Vocab

# Default part ranges (alto, tenor, bass); the single definition lives in models/data.py's VOICES, but the
# network must not import music21-heavy code, so the default is repeated here and checked by a test.
DEFAULT_PART_RANGES: tuple[tuple[int, int], ...] = ((53, 74), (48, 69), (36, 64))

# Additive logit for tokens a part may never produce (unknown, out-of-range onsets). Finite, so that the
# cross-entropy stays finite and the ONNX graph never sees inf before the top-p mask.
FORBIDDEN = -1e9


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to rebuild a ChoraleNet; stored in every checkpoint as a plain dict."""

    vocab_size: int = 52
    n_parts: int = 3
    hidden: int = 128  # 128 predicts as well as 256 here (models/default/README.md) at ~60% of the step time
    layers: int = 1
    embed: int = 32
    steps_per_beat: int = 4
    max_beats_in_bar: int = 8
    decode_order: tuple[int, ...] = (2, 1, 0)  # indices into parts (alto=0, tenor=1, bass=2): bass first
    dropout: float = 0.2
    part_ranges: tuple[tuple[int, int], ...] = DEFAULT_PART_RANGES  # MIDI [low, high] per part, parts order

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["decode_order"] = list(self.decode_order)
        d["part_ranges"] = [list(r) for r in self.part_ranges]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NetConfig":
        """Rebuild from `to_dict()` output; raises ValueError on unknown keys or bad values."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown NetConfig keys {sorted(unknown)}")
        kw = dict(d)
        if "decode_order" in kw:
            kw["decode_order"] = tuple(int(i) for i in kw["decode_order"])
        if "part_ranges" in kw:
            kw["part_ranges"] = tuple((int(lo), int(hi)) for lo, hi in kw["part_ranges"])
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if sorted(self.decode_order) != list(range(self.n_parts)):
            raise ValueError(f"decode_order {self.decode_order} is not a permutation of {self.n_parts} parts")
        if len(self.part_ranges) != self.n_parts:
            raise ValueError(f"{len(self.part_ranges)} part ranges for {self.n_parts} parts")
        if min(self.hidden, self.layers, self.embed, self.steps_per_beat, self.max_beats_in_bar) < 1:
            raise ValueError("hidden, layers, embed, steps_per_beat and max_beats_in_bar must be positive")


def allowed_mask(cfg: NetConfig, vocab: Vocab = Vocab()) -> Tensor:
    """[P, V] bool: True where part k may produce token v (rest, hold, onsets inside its range)."""
    if vocab.size != cfg.vocab_size:
        raise ValueError(f"vocab size {vocab.size} != config vocab_size {cfg.vocab_size}")
    mask = torch.zeros(cfg.n_parts, cfg.vocab_size, dtype=torch.bool)
    mask[:, vocab.rest] = True
    mask[:, vocab.hold] = True
    for k, (lo, hi) in enumerate(cfg.part_ranges):
        mask[k, vocab.onset(lo) : vocab.onset(hi) + 1] = True
    return mask


def nucleus(z: Tensor, top_p: Tensor) -> Tensor:
    """Set to -inf the entries of z [..., V] outside the top-p nucleus of softmax(z).

    The nucleus is the smallest set of most likely tokens whose probabilities sum to >= top_p: a token
    is kept when the mass of the tokens ranked above it is < top_p (so the best one is always kept);
    a token exactly as likely as the least likely kept one is kept too. `top_p` must already be
    `effective_top_p(top_p)`, so that top_p >= 1 keeps everything whatever the rounding of the sum.
    (Written as a threshold on the probabilities, not a scatter back to token order: 3 fewer graph
    nodes per part in ONNX, and every node costs ~1.5 us at batch 1.)
    """
    probs = torch.softmax(z, dim=-1)
    sorted_p = torch.topk(probs, z.shape[-1], dim=-1).values
    mass_above = torch.cumsum(sorted_p, dim=-1) - sorted_p
    least_kept = torch.where(mass_above < top_p, sorted_p, torch.full_like(sorted_p, 2.0)).amin(-1, keepdim=True)
    return torch.where(probs >= least_kept, z, torch.full_like(z, float("-inf")))


def effective_top_p(top_p: Tensor) -> Tensor:
    """top_p, or 2 when top_p >= 1: a cumulative sum can round to 1.0 before the last token."""
    return torch.where(top_p >= 1.0, torch.full_like(top_p, 2.0), top_p)


class ChoraleNet(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        V, P, E, H = cfg.vocab_size, cfg.n_parts, cfg.embed, cfg.hidden
        pos_e = max(4, E // 2)
        self.lead_embed = nn.Embedding(V, E)
        self.prev_lead_embed = nn.Embedding(V, E)
        self.prev_parts_embed = nn.Embedding(P * V, E)  # part k's token v -> row k*V + v
        self.step_embed = nn.Embedding(cfg.steps_per_beat, pos_e)
        self.beat_embed = nn.Embedding(cfg.max_beats_in_bar, pos_e)
        self.in_drop = nn.Dropout(cfg.dropout)
        self.gru = nn.GRU(E * (2 + P) + 2 * pos_e, H, cfg.layers, batch_first=True,
                          dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.out_drop = nn.Dropout(cfg.dropout)
        self.cond_embed = nn.Embedding(P * V, E)  # tokens chosen at t for earlier parts in decode order
        # heads[r] decodes the part of rank r in decode_order; it sees h_t and r earlier-part embeddings
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(H + r * E, H), nn.ReLU(), nn.Linear(H, V)) for r in range(P)
        )
        self.register_buffer("part_offset", torch.arange(P, dtype=torch.long) * V, persistent=False)
        bias = torch.where(allowed_mask(cfg), 0.0, FORBIDDEN).to(torch.float32)
        self.register_buffer("range_bias", bias, persistent=False)  # [P, V]

    def initial_state(self, batch: int = 1) -> Tensor:
        return torch.zeros(self.cfg.layers, batch, self.cfg.hidden)

    def _inputs(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor) -> Tensor:
        # lead/prev_lead [B,T], prev_parts [B,T,P], position [B,T,2] -> [B,T,in]
        parts = self.prev_parts_embed(prev_parts + self.part_offset).flatten(-2)  # [B,T,P*E]
        return torch.cat(
            [self.lead_embed(lead), self.prev_lead_embed(prev_lead), parts,
             self.step_embed(position[..., 0]), self.beat_embed(position[..., 1])],
            dim=-1,
        )

    def _head(self, rank: int, h: Tensor, context: list[Tensor]) -> Tensor:
        part = self.cfg.decode_order[rank]
        return self.heads[rank](torch.cat([h, *context], dim=-1)) + self.range_bias[part]

    def forward(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor,
                parts_now: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Teacher-forced sequence form. Shapes: [B,T], [B,T], [B,T,P], [B,T,2], [B,T,P] -> [B,T,P,V], state."""
        x = self.in_drop(self._inputs(lead, prev_lead, prev_parts, position))
        if state is None:
            state = self.initial_state(lead.shape[0]).to(x.device)
        y, state_out = self.gru(x, state)
        h = self.out_drop(y)  # [B,T,H]
        cond = self.cond_embed(parts_now + self.part_offset)  # [B,T,P,E]
        logits: list[Tensor | None] = [None] * self.cfg.n_parts
        context: list[Tensor] = []
        for rank, part in enumerate(self.cfg.decode_order):
            logits[part] = self._head(rank, h, context)
            context.append(cond[..., part, :])
        return torch.stack(logits, dim=-2), state_out  # type: ignore[arg-type]

    def step(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor, state: Tensor,
             parts_now: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step of `forward`: [B], [B], [B,P], [B,2], state [L,B,H], parts_now [B,P] -> [B,P,V], state.

        Without parts_now the later heads are conditioned on the greedy choices of the earlier ones.
        """
        if parts_now is None:
            return self._greedy_step(lead, prev_lead, prev_parts, position, state)
        logits, state_out = self.forward(lead[:, None], prev_lead[:, None], prev_parts[:, None],
                                         position[:, None], parts_now[:, None], state)
        return logits[:, 0], state_out

    def _greedy_step(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor,
                     state: Tensor) -> tuple[Tensor, Tensor]:
        y, state_out = self.gru(self._inputs(lead[:, None], prev_lead[:, None], prev_parts[:, None],
                                             position[:, None]), state)
        h = y[:, 0]
        logits: list[Tensor | None] = [None] * self.cfg.n_parts
        context: list[Tensor] = []
        for rank, part in enumerate(self.cfg.decode_order):
            logits[part] = self._head(rank, h, context)
            token = logits[part].argmax(dim=-1)  # type: ignore[union-attr]
            context.append(self.cond_embed(token + self.part_offset[part]))
        return torch.stack(logits, dim=-2), state_out  # type: ignore[arg-type]

    def sample_step(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor, state: Tensor,
                    noise: Tensor, temperature: Tensor, top_p: Tensor, logit_bias: Tensor,
                    pair_bias: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The reference of the export graph (batch 1): lead [1], prev_lead [1], prev_parts [P], position [2],
        state [L,1,H], noise [P,V], temperature [1], top_p [1], logit_bias [P,V], pair_bias [P,P,V,V]
        -> logits [P,V], tokens [P] int64, state_out.

        Ordered-gumbel decoding: for each part k in decode order, with every part q decoded before it
        adding its row pair_bias[q, k, token_q] to the bias, z = (logits + bias) / temperature, tokens
        outside the top-p nucleus of softmax(z) get -inf, token = argmax(z + noise); later parts are
        conditioned on the chosen tokens. `logits` are the raw ones (before temperature, bias, top-p).
        `export/step_graph.py` builds the ONNX graph of this same function, rearranged for speed.
        """
        P, V = self.cfg.n_parts, self.cfg.vocab_size
        x = self._inputs(lead.reshape(1, 1), prev_lead.reshape(1, 1), prev_parts.reshape(1, 1, P),
                         position.reshape(1, 1, 2))
        y, state_out = self.gru(x, state)
        h = y[0]  # [1,H]
        top_p = effective_top_p(top_p)
        logits: list[Tensor | None] = [None] * P
        tokens: list[Tensor | None] = [None] * P
        context: list[Tensor] = []
        for rank, part in enumerate(self.cfg.decode_order):
            raw = self._head(rank, h, context)  # [1,V]
            bias = logit_bias[part : part + 1]
            if pair_bias is not None:
                for earlier in self.cfg.decode_order[:rank]:
                    bias = bias + pair_bias[earlier, part].index_select(0, tokens[earlier])  # type: ignore[arg-type]
            z = nucleus((raw + bias) / temperature, top_p)
            token = torch.argmax(z + noise[part : part + 1], dim=-1)  # [1] int64
            logits[part], tokens[part] = raw, token
            context.append(self.cond_embed(token + self.part_offset[part]))
        return torch.cat(logits, dim=0), torch.cat(tokens, dim=0), state_out  # type: ignore[arg-type]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
