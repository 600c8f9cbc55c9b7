"""`sideman export CHECKPOINT -o MODEL.onnx`: ChoraleNet.sample_step -> one single-step ONNX graph.

The graph has the exact inputs/outputs of docs/model-contract.md, the contract JSON in the
`sideman.contract` metadata, passes `onnx.checker`, and must agree with torch over 500 steps of
held-out chorales (export/parity.py) before it is written: on any failure no file is left behind.

Exporter: the dynamo exporter (default) or the legacy TorchScript one (`--exporter legacy`). Both
produce one GRU node with linear_before_reset=1 (torch's GRU semantics) and pass the parity check.
Only dynamo can export the `If` that skips the nucleus when top_p >= 1 (`sample_step(branch_on_top_p=True)`,
torch.cond), so a legacy graph always computes it: the same function, slower a step at the default top_p 1.
Dynamo is also the exporter torch supports (the TorchScript one warns that it "will be removed");
legacy exports faster (~0.5 s vs ~10 s), which the tests use.

torch and onnx are imported inside functions: `sideman --help` must not pay for them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sideman.bridge.model.contract import METADATA_KEY, Contract, StateSpec, Voice
from sideman.bridge.errors import CheckpointError, ModelError

PART_NAMES = ("alto", "tenor", "bass")
PART_CHANNELS = (2, 3, 4)
INPUTS = ("lead", "prev_lead", "prev_parts", "position", "noise", "temperature", "top_p", "logit_bias", "pair_bias",
          "state")
OUTPUTS = ("logits", "tokens", "state_out")
EXPORTERS = ("dynamo", "legacy")
OPSET = 18


def git_commit(repo: Path | None = None) -> str:
    """`git rev-parse HEAD` of the source tree, "+dirty" if it has changes; "unknown" without git."""
    cwd = repo or Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _training_data(meta: dict[str, Any]) -> str:
    if "splits_hash" not in meta:
        return str(meta.get("training_data", "unknown"))
    sizes = meta.get("split_sizes", {})
    return (f"Bach chorales bundled with music21 {meta.get('music21', '?')}, models/splits "
            f"(hash {meta['splits_hash']}; train/valid/test pieces "
            f"{sizes.get('train', '?')}/{sizes.get('valid', '?')}/{sizes.get('test', '?')}), "
            f"training pieces transposed within range ({meta.get('train_pieces_augmented', '?')} in all)")


def _evaluation(meta: dict[str, Any]) -> dict[str, Any]:
    if isinstance(meta.get("evaluation"), dict):
        return dict(meta["evaluation"])
    keys = ("valid_nll", "valid_nll_per_part", "best_epoch", "test_nll", "test_nll_per_part")
    return {k: meta[k] for k in keys if k in meta}


def evaluation_summary(path: Path, checkpoint: Path | None = None) -> dict[str, Any]:
    """The headline figures of a `sideman evaluate --json` file, for the provenance.

    With `checkpoint`, the file must name a checkpoint of the same file name and be newer than it
    (an evaluation of older weights would be misleading); otherwise {} is returned.
    """
    import json

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        raise CheckpointError(f"{path}: not a readable `sideman evaluate --json` file") from None
    if checkpoint is not None:
        named = Path(str(doc.get("checkpoint", ""))).name
        if named != checkpoint.name or path.stat().st_mtime < checkpoint.stat().st_mtime:
            return {}
    tf = doc.get("teacher_forced", {})
    rows = tf.get("rows", {})
    summary: dict[str, Any] = {"source": path.name, "split": doc.get("split"), "pieces": doc.get("pieces"),
                               "steps": doc.get("steps"), "parts": tf.get("parts")}
    for label in ("network, lead known", "network, lead unknown"):
        if label in rows:
            key = label.replace("network, ", "").replace(" ", "_")
            summary[f"nll_{key}"] = [round(x, 4) for x in rows[label]["nll"]]
            summary[f"accuracy_{key}"] = [round(x, 4) for x in rows[label]["accuracy"]]
    if "nll_gain_vs_ngram" in tf:
        summary["nll_gain_vs_ngram"] = [round(x, 3) for x in tf["nll_gain_vs_ngram"]]
    return summary


def build_contract(net: Any, meta: dict[str, Any], export_command: str, name: str = "chorale-gru") -> Contract:
    """The contract of a ChoraleNet: parts alto/tenor/bass on channels 2/3/4, ranges from its config."""
    from sideman.models.data import LEAD  # the lead's range is a data setting, not stored in NetConfig

    cfg = net.cfg
    if cfg.n_parts != len(PART_NAMES):
        raise CheckpointError(f"the network has {cfg.n_parts} parts; export knows only {', '.join(PART_NAMES)}")
    parts = tuple(Voice(n, lo, hi, channel=ch) for n, (lo, hi), ch in zip(PART_NAMES, cfg.part_ranges, PART_CHANNELS))
    contract = Contract(
        name=name,
        lead=LEAD,
        parts=parts,
        state=(StateSpec("state", "state_out", (cfg.layers, 1, cfg.hidden)),),
        steps_per_beat=cfg.steps_per_beat,
        max_beats_in_bar=cfg.max_beats_in_bar,
        decode_order=tuple(PART_NAMES[i] for i in cfg.decode_order),
        provenance={
            "training_data": _training_data(meta),
            "command": str(meta.get("command", "unknown")),
            "git_commit": git_commit(),
            "evaluation": _evaluation(meta),
            "export_command": export_command,
        },
    )
    contract.validate()
    if contract.vocab.size != cfg.vocab_size:
        raise CheckpointError(f"network vocab size {cfg.vocab_size} != contract vocab size {contract.vocab.size}")
    return contract


def _example_inputs(net: Any) -> tuple[Any, ...]:
    import torch

    cfg = net.cfg
    P, V = cfg.n_parts, cfg.vocab_size
    key = (torch.full((cfg.key_input,), 1.0 / cfg.key_input),) if cfg.key_input else ()
    return (torch.tensor([5]), torch.tensor([4]), torch.ones(P, dtype=torch.long), torch.zeros(2, dtype=torch.long),
            torch.zeros(P, V), torch.ones(1), torch.ones(1), torch.zeros(P, V), torch.zeros(P, P, V, V),
            net.initial_state(1), *key)


def input_names(net: Any) -> list[str]:
    """The graph's inputs in the traced order: INPUTS, then `key_probs` for a network with a key input."""
    return list(INPUTS) + (["key_probs"] if net.cfg.key_input else [])


def step_module(net: Any, branch_on_top_p: bool = True) -> Any:
    """The module the exporters trace: `net.sample_step` itself, its forward taking the contract's inputs in
    INPUTS order (state last) and returning OUTPUTS."""
    from torch import nn

    class ContractStep(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, lead: Any, prev_lead: Any, prev_parts: Any, position: Any, noise: Any, temperature: Any,
                    top_p: Any, logit_bias: Any, pair_bias: Any, state: Any, key_probs: Any = None) -> Any:
            return self.net.sample_step(lead, prev_lead, prev_parts, position, state, noise, temperature, top_p,
                                        logit_bias, pair_bias, branch_on_top_p=branch_on_top_p, key_probs=key_probs)

    return ContractStep().eval()


def export_graph(net: Any, exporter: str = "dynamo", branch_on_top_p: bool = True) -> Any:
    """The ONNX ModelProto of `net.sample_step` (batch 1, fixed shapes), without metadata."""
    import onnx
    import torch

    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}")
    module = step_module(net.eval(), branch_on_top_p=branch_on_top_p and exporter != "legacy")
    args = _example_inputs(net)
    # The exporters print progress and log notes (constant folding, missing torchvision) at INFO and
    # WARNING; failures still raise. Silence them so `sideman export` prints only its own report.
    logging.disable(logging.CRITICAL)
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # deprecation notices of the exporters
            if exporter == "legacy":
                buf = io.BytesIO()
                torch.onnx.export(module, args, buf, input_names=input_names(net), output_names=list(OUTPUTS),
                                  opset_version=OPSET, dynamo=False, do_constant_folding=True)
                model = onnx.load_from_string(buf.getvalue())
            else:
                program = torch.onnx.export(module, args, input_names=input_names(net), output_names=list(OUTPUTS),
                                            opset_version=OPSET, dynamo=True, verbose=False)
                program.optimize()
                model = program.model_proto
    finally:
        logging.disable(logging.NOTSET)
    strip_debug_info(model)
    return model


def strip_debug_info(model: Any) -> None:
    """Drop per-node stack traces and doc strings: they hold paths of the exporting machine."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    model.graph.doc_string = ""
    model.doc_string = ""


def set_contract(model: Any, contract: Any, metadata_key: str = METADATA_KEY) -> None:
    """Write the contract JSON into metadata_props[metadata_key] (default "sideman.contract"; replacing an old one)."""
    keep = [(p.key, p.value) for p in model.metadata_props if p.key != metadata_key]
    del model.metadata_props[:]
    for key, value in keep + [(metadata_key, contract.to_json())]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


@dataclass(frozen=True)
class ExportResult:
    path: Path
    contract: Contract
    parity: tuple[Any, ...]  # ParityReport per run
    sequence_source: str
    int8_path: Path | None = None


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike, command: str,
                      exporter: str = "dynamo", steps: int = 500, quantize: bool = False,
                      sequence: Any = None, evaluation: str | os.PathLike | None = None) -> ExportResult:
    """Export, check, verify parity and only then move the file into place (atomically).

    The test figures of `evaluation` (a `sideman evaluate --json` file) go into the provenance;
    by default those of `evaluation-test.json` beside the checkpoint, if it evaluated these weights.
    """
    from sideman.models.checkpoint import load_checkpoint

    checkpoint = Path(checkpoint)
    net, meta = load_checkpoint(checkpoint)
    if net.cfg.encoder:
        raise CheckpointError(f"{checkpoint}: an offline teacher (it reads the whole tune) cannot run live; "
                              "export a student")
    sibling = checkpoint.with_name("evaluation-test.json")
    if evaluation is None and sibling.is_file():
        test = evaluation_summary(sibling, checkpoint)
    else:
        test = evaluation_summary(Path(evaluation)) if evaluation is not None else {}
    if test:
        meta = {**meta, "evaluation": {**_evaluation(meta), "test": test}}
    return export_network(net, meta, out, command, exporter=exporter, steps=steps, quantize=quantize,
                          sequence=sequence)


def export_network(net: Any, meta: dict[str, Any], out: str | os.PathLike, command: str,
                   exporter: str = "dynamo", steps: int = 500, quantize: bool = False,
                   sequence: Any = None) -> ExportResult:
    import onnx

    from sideman.export.parity import check_parity, held_out_sequence

    out = Path(out)
    if out.suffix != ".onnx":
        raise ModelError(f"{out}: the output file name must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    net.eval()
    contract = build_contract(net, meta, command)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        model = export_graph(net, exporter)
        set_contract(model, contract)
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ModelError(f"{out}: exported graph fails onnx.checker ({str(exc).splitlines()[0]}); not written") from None
        onnx.save(model, tmp)
        seq = sequence if sequence is not None else held_out_sequence(contract, steps)
        reports = check_parity(net, tmp, seq)
        # Record the parity figures in the file itself, then publish it in one rename.
        provenance = {**contract.provenance, "parity": {
            "steps": len(seq), "inputs": seq.source, "exporter": exporter,
            **{r.mode: {"max_logit_diff": float(f"{r.max_logit_diff:.3g}"),
                        "max_state_diff": float(f"{r.max_state_diff:.3g}"),
                        "token_mismatches": r.token_mismatches} for r in reports}}}
        contract = replace(contract, provenance=provenance)
        set_contract(model, contract)
        onnx.save(model, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    int8_path = None
    if quantize:
        int8_path = write_int8(net, contract, out.with_name(out.stem + ".int8.onnx"), exporter)
    return ExportResult(out, contract, tuple(reports), seq.source, int8_path)


def write_int8(net: Any, contract: Contract, int8_path: Path, exporter: str = "dynamo") -> Path:
    """A dynamic-int8 model of `net` at `int8_path`. ONNX Runtime's quantizer cannot follow weights
    into an If's branches, so this quantizes the graph without the If (the nucleus always computed):
    the same function."""
    import onnx

    from sideman.export.quantize import quantize_int8

    plain = export_graph(net, exporter, branch_on_top_p=False)
    set_contract(plain, contract)
    plain_path = int8_path.with_name(f".{int8_path.stem}.plain.onnx")
    try:
        onnx.save(plain, plain_path)
        return quantize_int8(plain_path, int8_path)
    finally:
        plain_path.unlink(missing_ok=True)


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="a checkpoint written by `sideman train` (.pt)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the ONNX file to write (MODEL.onnx)")
    parser.add_argument("--quantize", action="store_true",
                        help="also write MODEL.int8.onnx (dynamic int8) and report its NLL and step time")
    parser.add_argument("--exporter", choices=EXPORTERS, default="dynamo",
                        help="torch exporter: dynamo (default) or the deprecated TorchScript one (legacy: faster to export, "
                             "slower steps: no If around the nucleus)")
    parser.add_argument("--steps", type=int, default=500, help="parity steps of held-out chorales (default 500)")
    parser.add_argument("--evaluation", type=Path, default=None,
                        help="a `sideman evaluate --json` file whose test figures go into the provenance "
                             "(default: evaluation-test.json beside the checkpoint, if newer than it)")


def cmd_export(args: argparse.Namespace) -> int:
    argv = getattr(args, "argv", None) or sys.argv[1:]
    command = "sideman " + shlex.join(argv) if argv and argv[0] == "export" else (
        f"sideman export {shlex.quote(str(args.checkpoint))} -o {shlex.quote(str(args.out))}"
        + (" --quantize" if args.quantize else "") + (f" --exporter {args.exporter}" if args.exporter != "dynamo" else ""))
    result = export_checkpoint(args.checkpoint, args.out, command, exporter=args.exporter, steps=args.steps,
                               quantize=args.quantize, evaluation=args.evaluation)
    print(f"parity vs torch on {result.sequence_source}:")
    for report in result.parity:
        print(f"  {report.describe()}")
    size = result.path.stat().st_size
    print(f"wrote {result.path} ({size / 1024:.0f} KiB, exporter {args.exporter}, contract {result.contract.name})")
    if result.int8_path is not None:
        from sideman.export.parity import held_out_sessions
        from sideman.export.quantize import compare_int8

        sessions = held_out_sessions(result.contract)
        print(f"int8 vs float32, teacher-forced on {len(sessions)} held-out sessions ({sessions[0].source}):")
        print(compare_int8(result.path, result.int8_path, sessions).describe())
    return 0
