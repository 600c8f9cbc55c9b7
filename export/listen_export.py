"""`sideman export-listener [CHECKPOINT] -o listener.onnx`: ListenNet.step -> one single-step ONNX graph.

The graph has the inputs and outputs of the listener contract (docs/model-contract.md), the
contract JSON in the `sideman.listener` metadata, passes `onnx.checker`, and must agree with torch
before it is written: the file, stepped through the bridge's own `Recogniser` one 16th at a time on
held-out tunes (folk test tunes, the melody alone; Nottingham test tunes with their chords), must
give the probabilities of the torch network run over each whole tune within 1e-4 and the same key
and chord at every step. On any failure no file is left behind.

torch and onnx are imported inside functions: `sideman --help` must not pay for them.
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

from sideman.bridge.listen.contract import INPUT_NAME, LISTENER_METADATA_KEY, OUTPUT_NAMES, ListenerContract
from sideman.bridge.listen.features import frames
from sideman.bridge.listen.recogniser import DEFAULT_LISTENER, Recogniser
from sideman.bridge.model.contract import StateSpec
from sideman.export.checked import output_path, save_checked
from sideman.export.onnx_export import OPSET, git_commit, strip_debug_info
from sideman.models.listen.evaluate import DEFAULT_CHECKPOINT

TOLERANCE = 1e-4
PARITY_STEPS = 2000


@dataclass(frozen=True)
class Tune:
    """A held-out sequence for the parity check: notes (start, end, pitch) and each step's beat phase."""

    name: str
    notes: list[tuple[int, int, int]]
    phase: np.ndarray


@dataclass(frozen=True)
class Parity:
    steps: int
    max_prob_diff: float
    answer_mismatches: int  # steps where the key or the chord differs
    source: str

    @property
    def ok(self) -> bool:
        return self.max_prob_diff <= TOLERANCE and not self.answer_mismatches

    def describe(self) -> str:
        return (f"{self.steps} steps of {self.source}: max |probability diff| {self.max_prob_diff:.2g}, "
                f"{self.answer_mismatches} steps with another key or chord")

    def entry(self) -> dict[str, Any]:
        return {"steps": self.steps, "source": self.source, "max_prob_diff": float(f"{self.max_prob_diff:.3g}"),
                "answer_mismatches": self.answer_mismatches}


def cache_names(n: int) -> list[tuple[str, str]]:
    return [(f"cache{i}", f"cache{i}_out") for i in range(n)]


def build_contract(net: Any, meta: dict[str, Any], command: str, name: str = "listener-cnn") -> ListenerContract:
    states = tuple(StateSpec(a, b, shape) for (a, b), shape in zip(cache_names(len(net.convs)), net.cache_shapes()))
    valid = meta.get("valid", {})
    contract = ListenerContract(name=name, state=states, receptive_field=net.cfg.receptive_field, provenance={
        "training_data": "folk tunes of music21's oneills1850, ryansMammoth, essenFolksong (keys); Nottingham and "
                         "JSB of ../shared/data/polyphonic (chords); all transposed to the 12 keys",
        "command": str(meta.get("command", "unknown")), "git_commit": git_commit(), "export_command": command,
        "valid": valid if isinstance(valid, dict) else {}})
    contract.validate()
    return contract


def step_module(net: Any) -> Any:
    """The module traced: ListenNet.step with its inputs named and counted."""
    from torch import nn

    class Step(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, features: Any, *caches: Any) -> Any:
            return self.net.step(features, *caches)

    return Step().eval()


def export_graph(net: Any) -> Any:
    """The ONNX ModelProto of `net.step` (fixed shapes), without metadata."""
    import onnx
    import torch

    net.eval()
    n = len(net.convs)
    args = (torch.zeros(net.cfg.n_features), *net.initial_state())
    inputs = [INPUT_NAME] + [a for a, _ in cache_names(n)]
    outputs = list(OUTPUT_NAMES) + [b for _, b in cache_names(n)]
    buf = io.BytesIO()
    # The exporter logs and warns about its own internals; failures still raise.
    logging.disable(logging.CRITICAL)
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(step_module(net), args, buf, input_names=inputs, output_names=outputs,
                              opset_version=OPSET, dynamo=False, do_constant_folding=True)
    finally:
        logging.disable(logging.NOTSET)
    model = onnx.load_from_string(buf.getvalue())
    strip_debug_info(model)
    return model


def held_out_tunes(n_steps: int = PARITY_STEPS) -> tuple[list[Tune], str]:
    """Folk test tunes (melody) and Nottingham test tunes (melody + chords), about n_steps in all."""
    from sideman.models.listen.data import folk_examples, nottingham_examples

    folk, _ = folk_examples(progress=False)
    notts = nottingham_examples()
    tunes, total = [], 0
    for examples, acc in ((folk["test"], False), (notts["test"], True)):
        budget = total + n_steps // 2
        for e in examples:
            if total >= budget:
                break
            notes = e.melody.tolist() + (e.accompaniment.tolist() if acc else [])
            tunes.append(Tune(e.name, [tuple(x) for x in notes], e.phase))
            total += e.n_steps
    return tunes, f"{len(tunes)} held-out tunes (folk test melodies, Nottingham test with chords)"


def check_parity(net: Any, path: Path, tunes: Sequence[Tune], source: str) -> Parity:
    """Step the file through Recogniser over each tune (from silence) and compare with torch's forward."""
    import torch

    from sideman.bridge.listen.features import sequence_features

    listener = Recogniser.load(path)
    worst, mismatches, steps = 0.0, 0, 0
    for tune in tunes:
        n = len(tune.phase)
        with torch.no_grad():
            key, chord = net(torch.from_numpy(sequence_features(tune.notes, n, tune.phase))[None])
        key_p, chord_p = torch.softmax(key[0], -1).numpy(), torch.softmax(chord[0], -1).numpy()
        listener.reset()
        for t, (sounding, struck) in enumerate(frames(tune.notes, n)):
            heard = listener.step(sounding, struck, int(tune.phase[t]))
            worst = max(worst, float(np.abs(listener.key_probs - key_p[t]).max()),
                        float(np.abs(listener.chord_probs - chord_p[t]).max()))
            mismatches += heard.key != int(key_p[t].argmax()) or heard.chord != int(chord_p[t].argmax())
        steps += n
    return Parity(steps, worst, mismatches, source)


def export_listener(net: Any, meta: dict[str, Any], out: str | os.PathLike[str], command: str,
                    tunes: Sequence[Tune] | None = None, source: str = "") -> tuple[Path, ListenerContract, Parity]:
    """Export, check, verify parity, then move the file into place (atomically)."""
    out = output_path(out)
    if tunes is None:
        tunes, source = held_out_tunes()
    contract, parity = save_checked(out, export_graph(net), build_contract(net, meta, command), LISTENER_METADATA_KEY,
                                    lambda tmp: check_parity(net, tmp, tunes, source))
    return out, contract, parity


def add_export_listener_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, nargs="?", default=DEFAULT_CHECKPOINT,
                        help="a checkpoint written by `sideman train-listener` (default: the shipped one)")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_LISTENER, help="the ONNX file to write "
                        "(default: the bridge's bridge/assets/listener.onnx)")


def cmd_export_listener(args: argparse.Namespace) -> int:
    from sideman.models.listen.network import load_listener

    argv = getattr(args, "argv", None) or sys.argv[1:]
    net, meta = load_listener(args.checkpoint)
    path, contract, parity = export_listener(net, meta, args.out, "sideman " + shlex.join(argv))
    print(f"parity vs torch: {parity.describe()}")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, contract {contract.name}, "
          f"receptive field {contract.receptive_field} steps)")
    return 0
