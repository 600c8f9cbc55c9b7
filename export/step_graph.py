"""The network's single step rearranged for a fast ONNX graph: same function, fewer nodes.

At batch 1 the graph's cost is mostly per-node overhead in ONNX Runtime (~1.5 us a node on this
machine, against ~60 us for all the matrix products of a 256-unit model), so the export module
computes `ChoraleNet.sample_step` with as few nodes as the arithmetic allows:

- the five input embeddings become one table and one Gather: the lead, previous lead and part
  tables are stacked, and the step-in-beat and beat-in-bar tables (16 wide each) are padded to the
  32-wide rows (step left, beat right) with the GRU's input columns for position used twice;
- the GRU runs time-major (no transposes in or out);
- the decoding is an ONNX `If` on top_p < 1: without a nucleus (top_p >= 1) the ~30 nodes of the
  three nucleus computations are not run at all;
- each head's output bias absorbs the part's range bias (a constant), and each part's
  `cond_embed` rows are their own table (no offset add before the Gather).

`export/parity.py` checks the exported graph against `ChoraleNet.sample_step` itself, so any slip
in this rearrangement is caught before a file is written.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from sideman.models.network import ChoraleNet, effective_top_p, nucleus


class StepGraph(nn.Module):
    """forward(contract inputs..., state) -> (logits [P,V], tokens [P], state_out) like sample_step."""

    def __init__(self, net: ChoraleNet, branch_on_top_p: bool = True) -> None:
        """branch_on_top_p=False always computes the nucleus (for the TorchScript exporter, which
        cannot export torch.cond): the same function, ~30 us slower a step when top_p >= 1."""
        super().__init__()
        self.branch_on_top_p = branch_on_top_p
        cfg = net.cfg
        self.cfg = cfg
        P, V, E = cfg.n_parts, cfg.vocab_size, cfg.embed
        pos_e = net.step_embed.embedding_dim
        if 2 * pos_e != E:
            # The fused table needs step and beat to fill one row; other shapes use the plain graph.
            raise ValueError(f"step graph needs 2 x position embedding ({2 * pos_e}) == embed ({E})")
        with torch.no_grad():
            step_rows = torch.cat([net.step_embed.weight, torch.zeros(cfg.steps_per_beat, pos_e)], dim=1)
            beat_rows = torch.cat([torch.zeros(cfg.max_beats_in_bar, pos_e), net.beat_embed.weight], dim=1)
            table = torch.cat([net.lead_embed.weight, net.prev_lead_embed.weight, net.prev_parts_embed.weight,
                               step_rows, beat_rows], dim=0)
        self.register_buffer("table", table.clone())
        # Row offsets of [lead, prev_lead, part_0..part_{P-1}, step, beat] in `table`.
        offsets = [0, V] + [2 * V + k * V for k in range(P)] + [(2 + P) * V, (2 + P) * V + cfg.steps_per_beat]
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long))
        gru = net.gru
        if gru.num_layers != 1:
            raise ValueError("step graph supports a one-layer GRU")
        self.gru = nn.GRU(E * (4 + P), cfg.hidden, 1, batch_first=False)
        with torch.no_grad():
            w = gru.weight_ih_l0  # [3H, E*(2+P) + 2*pos_e]: columns lead, prev_lead, parts, step, beat
            head, pos = w[:, : E * (2 + P)], w[:, E * (2 + P):]
            self.gru.weight_ih_l0.copy_(torch.cat([head, pos, pos], dim=1))
            self.gru.weight_hh_l0.copy_(gru.weight_hh_l0)
            self.gru.bias_ih_l0.copy_(gru.bias_ih_l0)
            self.gru.bias_hh_l0.copy_(gru.bias_hh_l0)
        self.order = tuple(cfg.decode_order)
        self.first = nn.ModuleList()
        self.second = nn.ModuleList()
        for rank, part in enumerate(self.order):
            seq = net.heads[rank]
            self.first.append(seq[0])
            last = nn.Linear(seq[2].in_features, seq[2].out_features)
            with torch.no_grad():
                last.weight.copy_(seq[2].weight)
                last.bias.copy_(seq[2].bias + net.range_bias[part])
            self.second.append(last)
        with torch.no_grad():
            cond = net.cond_embed.weight.reshape(P, V, E)
        self.cond = nn.ParameterList(nn.Parameter(cond[k].clone(), requires_grad=False) for k in range(P))
        self.P, self.V = P, V

    def forward(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor, noise: Tensor,
                temperature: Tensor, top_p: Tensor, logit_bias: Tensor, pair_bias: Tensor, state: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
        index = torch.cat([lead, prev_lead, prev_parts, position]) + self.offsets
        x = self.table.index_select(0, index).reshape(1, 1, -1)
        _, state_out = self.gru(x, state)
        h = state_out.reshape(1, -1)  # one step: the last hidden state is the output (and no Transpose)
        # Two decoders in an ONNX `If`: the nucleus block is ~30 of the graph's ~80 nodes, and with
        # top_p >= 1 (no nucleus) it would compute a mask that keeps everything.
        if self.branch_on_top_p:
            logits, tokens = torch.cond((top_p < 1.0).reshape(()), self._decode_nucleus, self._decode_plain,
                                        (h, noise, temperature, top_p, logit_bias, pair_bias))
        else:
            logits, tokens = self._decode_nucleus(h, noise, temperature, effective_top_p(top_p), logit_bias, pair_bias)
        return logits, tokens, state_out

    def _decode_nucleus(self, h: Tensor, noise: Tensor, temperature: Tensor, top_p: Tensor, logit_bias: Tensor,
                        pair_bias: Tensor) -> tuple[Tensor, Tensor]:
        return self._decode(h, noise, temperature, top_p, logit_bias, pair_bias, True)

    def _decode_plain(self, h: Tensor, noise: Tensor, temperature: Tensor, top_p: Tensor, logit_bias: Tensor,
                      pair_bias: Tensor) -> tuple[Tensor, Tensor]:
        return self._decode(h, noise, temperature, top_p, logit_bias, pair_bias, False)

    def _decode(self, h: Tensor, noise: Tensor, temperature: Tensor, top_p: Tensor, logit_bias: Tensor,
                pair_bias: Tensor, use_nucleus: bool) -> tuple[Tensor, Tensor]:
        """Ordered decoding of every part, as in ChoraleNet.sample_step (top_p < 1 when use_nucleus)."""
        P, V = self.P, self.V
        pairs = pair_bias.reshape(P * P * V, V)
        logits: list[Any] = [None] * P
        tokens: list[Any] = [None] * P
        context: list[Tensor] = [h]
        for rank, part in enumerate(self.order):
            inp = context[0] if rank == 0 else torch.cat(context, dim=-1)
            raw = self.second[rank](torch.relu(self.first[rank](inp)))
            bias = logit_bias[part : part + 1]
            for earlier in self.order[:rank]:
                bias = bias + pairs.index_select(0, tokens[earlier] + (earlier * P + part) * V)
            z = (raw + bias) / temperature
            if use_nucleus:
                z = nucleus(z, top_p)
            token = torch.argmax(z + noise[part : part + 1], dim=-1)
            logits[part], tokens[part] = raw, token
            context.append(self.cond[part].index_select(0, token))
        return torch.cat(logits, dim=0), torch.cat(tokens, dim=0)


def step_module(net: ChoraleNet, branch_on_top_p: bool = True) -> nn.Module:
    """The fast module when the network's shape allows it, else a plain wrapper of sample_step."""
    try:
        return StepGraph(net, branch_on_top_p).eval()
    except ValueError:
        return _PlainStep(net).eval()


class _PlainStep(nn.Module):
    def __init__(self, net: ChoraleNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, lead: Tensor, prev_lead: Tensor, prev_parts: Tensor, position: Tensor, noise: Tensor,
                temperature: Tensor, top_p: Tensor, logit_bias: Tensor, pair_bias: Tensor, state: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
        return self.net.sample_step(lead, prev_lead, prev_parts, position, state, noise, temperature, top_p,
                                    logit_bias, pair_bias)
