"""The step-wise chorale network: a GRU over 16th-note steps with ordered per-part heads.

At step t the GRU reads the lead token at t (possibly `unknown`), the true lead token at t-1, the part
tokens played at t-1 and the metrical position, and updates its hidden state h_t. The parts at t are then
decoded one after the other in `decode_order` (default bass, tenor, alto): the head of each part sees h_t
plus embeddings of the tokens already chosen for the parts before it. `_decode` is that ordered decoding,
written once: the teacher-forced `forward` (training, scoring) feeds it the true tokens, and `sample_step`
(evaluation, and the batch-1 function `export/` traces into ONNX, docs/model-contract.md) feeds it the
contract's sampling rule. The code is written for the exported graph, where at batch 1 every node costs
about as much as its arithmetic: one input table and one Gather, a time-major GRU, range masks inside the
heads' biases, and the nucleus inside an `If` on top_p < 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sideman.bridge.model.contract import N_KEY_CLASSES, Vocab

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
    # 0: the online network the bridge runs. > 0: the offline teacher (models/teacher.py), whose step GRU
    # also reads an encoding of the whole tune, 2 * `encoder` values per step.
    encoder: int = 0
    # 0: no key input. 24: the GRU also reads the key the engine has heard before the step, a probability per
    # key class (models/heard_key.py; the graph's optional `key_probs` input, docs/model-contract.md).
    key_input: int = 0

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
        if self.encoder < 0:
            raise ValueError("encoder must be >= 0")
        if self.key_input not in (0, N_KEY_CLASSES):
            raise ValueError(f"key_input must be 0 or {N_KEY_CLASSES} (the key classes)")


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
        # Time-major, so that a step's input enters the ONNX GRU without a Transpose.
        self.gru = nn.GRU(E * (2 + P) + 2 * pos_e + cfg.key_input + 2 * cfg.encoder, H, cfg.layers,
                          dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.out_drop = nn.Dropout(cfg.dropout)
        self.cond_embed = nn.Embedding(P * V, E)  # tokens chosen at t for earlier parts in decode order
        # heads[r] decodes the part of rank r in decode_order; it sees h_t and r earlier-part embeddings
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(H + r * E, H), nn.ReLU(), nn.Linear(H, V)) for r in range(P)
        )
        # The input table (_input_table) holds the lead, previous-lead and previous-part rows, then one row
        # per (step_in_beat, beat_in_bar) pair when the two position embeddings fill a row together, so
        # that all inputs are one Gather; `index_map` turns (lead, prev_lead, parts.., step, beat) into rows.
        self.one_table = 2 * pos_e == E
        n_idx = 2 + P + (1 if self.one_table else 0)
        index_map = torch.zeros(4 + P, n_idx, dtype=torch.long)
        index_map[: 2 + P, : 2 + P] = torch.eye(2 + P, dtype=torch.long)
        if self.one_table:
            index_map[2 + P :, 2 + P] = torch.tensor([cfg.max_beats_in_bar, 1])
        offsets = [k * V for k in range(2 + P)] + ([(2 + P) * V] if self.one_table else [])
        self.register_buffer("index_map", index_map, persistent=False)
        self.register_buffer("index_offset", torch.tensor(offsets), persistent=False)
        bias = torch.where(allowed_mask(cfg), 0.0, FORBIDDEN).to(torch.float32)
        self.register_buffer("range_bias", bias, persistent=False)  # [P, V]

    def initial_state(self, batch: int = 1) -> Tensor:
        return torch.zeros(self.cfg.layers, batch, self.cfg.hidden)

    def _input_table(self) -> Tensor:
        """[(2+P)*V (+ steps*beats), E]: the input embeddings stacked (built from the weights on each call, so
        training updates them as separate tables; the exported graph holds it as one constant)."""
        tables = [self.lead_embed.weight, self.prev_lead_embed.weight, self.prev_parts_embed.weight]
        if self.one_table:
            S, B = self.cfg.steps_per_beat, self.cfg.max_beats_in_bar
            step = self.step_embed.weight[:, None].expand(S, B, -1)
            beat = self.beat_embed.weight[None].expand(S, B, -1)
            tables.append(torch.cat([step, beat], dim=-1).reshape(S * B, -1))
        return torch.cat(tables)

    def _inputs(self, raw: Tensor) -> Tensor:
        """raw [..., 4+P] = (lead, prev_lead, prev_parts.., step_in_beat, beat_in_bar) -> GRU input [..., in]."""
        rows = F.embedding(raw @ self.index_map + self.index_offset, self._input_table())  # [..., n, E]
        if self.one_table:
            return rows.flatten(-2)
        return torch.cat([rows.flatten(-2), self.step_embed(raw[..., -2]), self.beat_embed(raw[..., -1])], dim=-1)

    def _head(self, rank: int, part: int, context: list[Tensor]) -> Tensor:
        """Raw logits [..., V] of `part` (decode rank `rank`) from context [h, earlier parts' embeddings]."""
        first, relu, last = self.heads[rank]
        x = relu(first(context[0] if len(context) == 1 else torch.cat(context, dim=-1)))
        # The range mask joins the output bias, so that the graph adds it inside the Gemm.
        return F.linear(x, last.weight, last.bias + self.range_bias[part])

    def _decode(self, h: Tensor, pick: Callable[[int, Tensor, list[tuple[int, Tensor]]], Tensor]
                ) -> tuple[list[Tensor], list[Tensor]]:
        """Ordered decoding, the one implementation behind training, evaluation and the export graph.

        h [..., H] -> raw logits [..., V] and tokens [...] per part, in parts order. For each part in
        decode order, `pick(part, raw_logits, chosen)` returns its token, where `chosen` lists the
        (part, token) pairs decoded before it; the heads of later parts see the chosen tokens.
        """
        P, V = self.cfg.n_parts, self.cfg.vocab_size
        logits: list[Any] = [None] * P
        tokens: list[Any] = [None] * P
        context, chosen = [h], []
        for rank, part in enumerate(self.cfg.decode_order):
            raw = self._head(rank, part, context)
            token = pick(part, raw, chosen)
            logits[part], tokens[part] = raw, token
            chosen.append((part, token))
            if rank < P - 1:
                context.append(F.embedding(token, self.cond_embed.weight[part * V : (part + 1) * V]))
        return logits, tokens

    def _with_key(self, x: Tensor, key: Tensor | None) -> Tensor:
        """The GRU input with the heard key appended (networks with a key input; None: nothing heard yet)."""
        if not self.cfg.key_input:
            return x
        if key is None:
            key = torch.full((*x.shape[:-1], self.cfg.key_input), 1.0 / self.cfg.key_input, device=x.device)
        return torch.cat([x, key], dim=-1)

    def forward(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor,
                parts_now: Tensor, state: Tensor | None = None, context: Tensor | None = None,
                key: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Teacher-forced sequence form. Shapes: [B,T], [B,T], [B,T,P], [B,T,2], [B,T,P] -> [B,T,P,V], state.
        `context` [B,T,2*encoder] is the teacher's encoding of the whole tune (None for the online network);
        `key` [B,T,24] the key heard before each step (networks with a key input)."""
        raw = torch.cat([lead[..., None], prev_lead[..., None], prev_parts, position], dim=-1)
        x = self._with_key(self._inputs(raw), key)
        if context is not None:
            x = torch.cat([x, context], dim=-1)
        x = self.in_drop(x)
        if state is None:
            state = self.initial_state(lead.shape[0]).to(x.device)
        y, state_out = self.gru(x.transpose(0, 1), state)
        h = self.out_drop(y.transpose(0, 1))  # [B,T,H]
        logits, _ = self._decode(h, lambda part, _raw, _chosen: parts_now[..., part])
        return torch.stack(logits, dim=-2), state_out

    @torch.no_grad()
    def sample_parts(self, lead: Tensor, prev_lead: Tensor, position: Tensor, prev_parts: Tensor, temperature: float,
                     generator: torch.Generator | None = None, context: Tensor | None = None,
                     key: Tensor | None = None) -> Tensor:
        """Sample parts one step at a time, feeding back its own choices (batched, from a zero state):
        lead, prev_lead [B,T], position [B,T,2], prev_parts [B,P] before the first step, `context`
        [B,T,C] the teacher's whole-tune encoding (None: the online network), `key` [B,T,24] the heard
        key (networks with a key input) -> parts [B,T,P] tokens."""
        B, T = lead.shape
        state = self.initial_state(B).to(lead.device)
        out = torch.empty((B, T, self.cfg.n_parts), dtype=torch.long, device=lead.device)

        def pick(_part: int, raw: Tensor, _chosen: object) -> Tensor:
            return torch.multinomial(torch.softmax(raw / temperature, dim=-1), 1, generator=generator)[:, 0]

        for t in range(T):
            x = self._inputs(torch.cat([lead[:, t, None], prev_lead[:, t, None], prev_parts, position[:, t]], dim=-1))
            x = self._with_key(x, None if key is None else key[:, t])
            if context is not None:
                x = torch.cat([x, context[:, t]], dim=-1)
            _, state = self.gru(x[None], state)
            _, tokens = self._decode(state[-1], pick)
            prev_parts = torch.stack(tokens, dim=-1)
            out[:, t] = prev_parts
        return out

    def sample_step(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor, state: Tensor,
                    noise: Tensor, temperature: Tensor, top_p: Tensor, logit_bias: Tensor,
                    pair_bias: Tensor | None = None, branch_on_top_p: bool = False, key_probs: Tensor | None = None
                    ) -> tuple[Tensor, Tensor, Tensor]:
        """One step at batch 1, the function `export/` traces: lead [1], prev_lead [1], prev_parts [P],
        position [2], state [L,1,H], noise [P,V], temperature [1], top_p [1], logit_bias [P,V],
        pair_bias [P,P,V,V], key_probs [24] (networks with a key input) -> logits [P,V], tokens [P] int64, state_out.

        Ordered-gumbel decoding (docs/model-contract.md): for each part k in decode order, with every part q
        decoded before it adding its row pair_bias[q, k, token_q] to the bias, z = (logits + bias) /
        temperature, tokens outside the top-p nucleus of softmax(z) get -inf, token = argmax(z + noise); later
        parts are conditioned on the chosen tokens. `logits` are the raw ones (before temperature, bias, top-p).

        branch_on_top_p computes the nucleus only when top_p < 1, through torch.cond (an ONNX `If`, for the
        dynamo exporter); otherwise it is always computed, keeping every token when top_p >= 1: the same result.
        """
        raw = torch.cat([lead, prev_lead, prev_parts, position])
        x = self._with_key(self._inputs(raw), key_probs)
        _, state_out = self.gru(x.reshape(1, 1, -1), state)
        h = state_out[-1]  # [1,H]: after one step the last layer's state is its output
        operands = (h, noise, temperature, top_p, logit_bias) + (() if pair_bias is None else (pair_bias,))
        if branch_on_top_p:
            # At top_p >= 1 the nucleus keeps every token, so that branch need not compute it.
            logits, tokens = torch.cond((top_p < 1.0).reshape(()), self._sample_nucleus, self._sample_plain,
                                        operands)
        else:
            logits, tokens = self._sample_nucleus(h, noise, temperature, effective_top_p(top_p), logit_bias,
                                                  pair_bias)
        return logits, tokens, state_out

    def _sample_nucleus(self, h: Tensor, noise: Tensor, temperature: Tensor, top_p: Tensor, logit_bias: Tensor,
                        pair_bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._sample(h, noise, temperature, top_p, logit_bias, pair_bias, True)

    def _sample_plain(self, h: Tensor, noise: Tensor, temperature: Tensor, top_p: Tensor, logit_bias: Tensor,
                      pair_bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._sample(h, noise, temperature, top_p, logit_bias, pair_bias, False)

    def _sample(self, h: Tensor, noise: Tensor, temperature: Tensor, top_p: Tensor, logit_bias: Tensor,
                pair_bias: Tensor | None, use_nucleus: bool) -> tuple[Tensor, Tensor]:
        """`_decode` with the contract's sampling rule as its pick: [1,H] -> logits [P,V], tokens [P]."""
        P, V = self.cfg.n_parts, self.cfg.vocab_size
        noise_rows, bias_rows = noise.split(1), logit_bias.split(1)
        pairs = None if pair_bias is None else pair_bias.reshape(P * P * V, V)

        def pick(part: int, raw: Tensor, chosen: list[tuple[int, Tensor]]) -> Tensor:
            bias = bias_rows[part]
            if pairs is not None:
                for earlier, token in chosen:  # row pair_bias[earlier, part, token]
                    bias = bias + pairs.index_select(0, token + (earlier * P + part) * V)
            z = (raw + bias) / temperature
            if use_nucleus:
                z = nucleus(z, top_p)
            return torch.argmax(z + noise_rows[part], dim=-1)  # [1] int64

        logits, tokens = self._decode(h, pick)
        return torch.cat(logits), torch.cat(tokens)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
