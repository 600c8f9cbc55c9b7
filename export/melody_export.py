"""`sideman export-melody [CHECKPOINT] -o melody-gru.onnx`: MelodyNet.step -> one single-step ONNX graph.

The graph has the inputs and outputs of the answer model's contract (bridge/model/melody.py), the contract
JSON in the `sideman.melody` metadata, passes `onnx.checker`, and must agree with torch before it is
written: stepped through the bridge's own `MelodyModel` over held-out melodies (Nottingham and folk test
tunes), its logits must match the torch network run over each whole tune within 1e-4, with the same
most likely token at every step. On any failure no file is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shlex
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sideman.bridge.model.melody import DEFAULT_MELODY, INPUT_NAMES, MELODY_METADATA_KEY, OUTPUT_NAMES, MelodyContract, MelodyModel
from sideman.export.checked import output_path, save_checked
from sideman.export.onnx_export import OPSET, git_commit, strip_debug_info

TOLERANCE = 1e-4
PARITY_STEPS = 2000


@dataclass(frozen=True)
class Parity:
    steps: int
    max_logit_diff: float
    argmax_mismatches: int
    source: str

    @property
    def ok(self) -> bool:
        return self.max_logit_diff <= TOLERANCE and not self.argmax_mismatches

    def describe(self) -> str:
        return (f"{self.steps} steps of {self.source}: max |logit diff| {self.max_logit_diff:.2g}, "
                f"{self.argmax_mismatches} steps with another most likely token")

    def entry(self) -> dict[str, Any]:
        return {"steps": self.steps, "source": self.source, "max_logit_diff": float(f"{self.max_logit_diff:.3g}")}


def export_graph(net: Any) -> Any:
    """The ONNX ModelProto of `net.step` (fixed shapes), without metadata."""
    import onnx
    import torch
    from torch import nn

    class Step(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, prev: Any, phase: Any, state: Any) -> Any:
            return self.net.step(prev, phase, state)

    args = (torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long), net.initial_state())
    buf = io.BytesIO()
    logging.disable(logging.CRITICAL)  # the exporter logs and warns about its own internals; failures still raise
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(Step().eval(), args, buf, input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                              opset_version=OPSET, dynamo=False, do_constant_folding=True)
    finally:
        logging.disable(logging.NOTSET)
    model = onnx.load_from_string(buf.getvalue())
    strip_debug_info(model)
    return model


def held_out(n_steps: int = PARITY_STEPS) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(tokens, phase) of test tunes, about n_steps in all, half Nottingham and half folk."""
    from sideman.models.melody.data import melody_tunes

    test = melody_tunes()["test"]
    notts = [t for t in test if t.name.startswith("nottingham:")]
    folk = [t for t in test if t.name.startswith("folk:")]
    out, total = [], 0
    for tunes in (notts, folk):
        budget = total + n_steps // 2
        for tune in tunes:
            if total >= budget:
                break
            out.append((tune.tokens, tune.phase))
            total += len(tune.phase)
    return out, f"{len(out)} held-out melodies (Nottingham and folk test tunes)"


def check_parity(net: Any, path: Path, tunes: Sequence[tuple[np.ndarray, np.ndarray]], source: str) -> Parity:
    import torch

    from sideman.bridge.model.melody import MELODY_VOCAB

    model = MelodyModel.load(path)
    worst, mismatches, steps = 0.0, 0, 0
    for tokens, phase in tunes:
        prev = np.concatenate([[MELODY_VOCAB.rest], tokens[:-1]])
        with torch.no_grad():
            ref, _ = net(torch.from_numpy(prev)[None], torch.from_numpy(phase)[None])
        ref = ref[0].numpy()
        model.reset()
        for t in range(len(tokens)):
            got = model.step(int(prev[t]), int(phase[t]))
            worst = max(worst, float(np.abs(got - ref[t]).max()))
            mismatches += int(got.argmax() != ref[t].argmax())
        steps += len(tokens)
    return Parity(steps, worst, mismatches, source)


def export_melody(net: Any, meta: dict[str, Any], out: str | os.PathLike[str], command: str,
                  tunes: Sequence[tuple[np.ndarray, np.ndarray]] | None = None, source: str = "") -> tuple[Path, MelodyContract, Parity]:
    """Export, check, verify parity, then move the file into place (atomically)."""
    out = output_path(out)
    contract = MelodyContract("melody-gru", net.cfg.hidden, steps_per_beat=net.cfg.steps_per_beat, provenance={
        "training_data": "Nottingham melodies of ../shared/data/polyphonic and music21's oneills1850, ryansMammoth, "
                         "essenFolksong (never airdsAirs), transposed within the vocabulary",
        "command": str(meta.get("command", "unknown")), "git_commit": git_commit(), "export_command": command,
        "valid_nll": meta.get("valid_nll")})
    if tunes is None:
        tunes, source = held_out()
    contract, parity = save_checked(out, export_graph(net), contract, MELODY_METADATA_KEY,
                                    lambda tmp: check_parity(net, tmp, tunes, source))
    return out, contract, parity


def add_export_melody_arguments(parser: argparse.ArgumentParser) -> None:
    from sideman.models.melody.train import DEFAULT_CHECKPOINT

    parser.add_argument("checkpoint", type=Path, nargs="?", default=DEFAULT_CHECKPOINT,
                        help="a checkpoint written by `sideman train-melody` (default: models/default/melody-gru.pt)")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_MELODY,
                        help="the ONNX file to write (default: the bridge's bridge/assets/melody-gru.onnx)")


def cmd_export_melody(args: argparse.Namespace) -> int:
    from sideman.models.melody.network import load_melody_net

    net, meta = load_melody_net(args.checkpoint)
    path, contract, parity = export_melody(net, meta, args.out, "sideman " + shlex.join(getattr(args, "argv", None) or sys.argv[1:]))
    print(f"parity vs torch: {parity.describe()}")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, hidden {contract.hidden})")
    return 0
