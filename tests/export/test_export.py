"""export/: torch -> ONNX step graph, contract metadata, parity check, refusal, int8, CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from sideman.bridge.model.contract import METADATA_KEY, Contract  # noqa: E402
from sideman.bridge.errors import ModelError  # noqa: E402
from sideman.bridge.model.runtime import OnnxStepModel  # noqa: E402
from sideman.export import onnx_export  # noqa: E402
from sideman.export.onnx_export import add_export_arguments, build_contract, cmd_export, export_network  # noqa: E402
from sideman.export.parity import (  # noqa: E402
    LOGIT_TOLERANCE,
    check_parity,
    score_onnx,
    sequence_from_pieces,
    synthetic_sequence,
)
from sideman.models.network import ChoraleNet, NetConfig  # noqa: E402

META = {"command": "sideman train --quick", "splits_hash": "abc123", "music21": "10.5",
        "split_sizes": {"train": 9, "valid": 1, "test": 1}, "train_pieces_augmented": 90, "valid_nll": 1.5}


def small_net(seed: int = 0, **kw: int) -> ChoraleNet:
    torch.manual_seed(seed)
    return ChoraleNet(NetConfig(hidden=kw.get("hidden", 32), embed=kw.get("embed", 8), layers=kw.get("layers", 1))).eval()


@pytest.fixture(scope="module")
def net() -> ChoraleNet:
    return small_net()


@pytest.fixture(scope="module")
def seq(net: ChoraleNet):
    return synthetic_sequence(build_contract(net, {}, "test"), 120)


@pytest.fixture(scope="module")
def exported(net: ChoraleNet, seq, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("export") / "model.onnx"
    return export_network(net, META, out, "sideman export x.pt -o model.onnx", sequence=seq)


def _flip_linear_before_reset(src: Path, dst: Path) -> Path:
    model = onnx.load(src)
    grus = [n for n in model.graph.node if n.op_type == "GRU"]
    assert len(grus) == 1
    for attr in grus[0].attribute:
        if attr.name == "linear_before_reset":
            assert attr.i == 1  # torch's GRU semantics
            attr.i = 0
    onnx.save(model, dst)
    return dst


def test_exported_graph_has_the_contract_io_and_metadata(exported) -> None:
    model = onnx.load(exported.path)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == list(onnx_export.INPUTS)
    assert [o.name for o in model.graph.output] == list(onnx_export.OUTPUTS)
    meta = {p.key: p.value for p in model.metadata_props}
    contract = Contract.from_json(meta[METADATA_KEY])
    assert contract == exported.contract
    assert [(p.name, p.low, p.high, p.channel) for p in contract.parts] == [
        ("alto", 53, 74, 2), ("tenor", 48, 69, 3), ("bass", 36, 64, 4)]
    assert contract.decode_order == ("bass", "tenor", "alto")
    assert [(s.input, s.output, s.shape) for s in contract.state] == [("state", "state_out", (1, 1, 32))]
    prov = contract.provenance
    assert prov["command"] == "sideman train --quick" and "abc123" in prov["training_data"]
    assert prov["export_command"] == "sideman export x.pt -o model.onnx"
    assert prov["evaluation"] == {"valid_nll": 1.5} and prov["git_commit"]
    assert prov["parity"]["steps"] == 120 and prov["parity"]["greedy"]["token_mismatches"] == 0
    assert prov["parity"]["exporter"] == "dynamo"  # the default
    # The runtime accepts it.
    assert OnnxStepModel.load(exported.path).contract == contract


def test_parity_figures_are_within_tolerance(exported) -> None:
    assert [r.mode for r in exported.parity] == ["greedy", "sampled"]
    for report in exported.parity:
        assert report.ok and report.steps == 120
        assert report.max_logit_diff < LOGIT_TOLERANCE and report.max_state_diff < LOGIT_TOLERANCE


def test_parity_check_catches_a_wrong_gru_graph(net, seq, exported, tmp_path: Path) -> None:
    broken = _flip_linear_before_reset(exported.path, tmp_path / "broken.onnx")
    with pytest.raises(ModelError, match=r"disagrees with torch .*max \|logit diff\|"):
        check_parity(net, broken, seq)


def test_parity_check_catches_a_perturbed_weight(net, seq, exported, tmp_path: Path) -> None:
    model = onnx.load(exported.path)
    from onnx import numpy_helper

    # Nudge the largest initializer (the GRU's recurrent weights) by 1e-3: small, but it must show.
    init = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    arr = numpy_helper.to_array(init).copy()
    arr.flat[0] += 1e-3
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(model, tmp_path / "perturbed.onnx")
    with pytest.raises(ModelError, match="disagrees with torch"):
        check_parity(net, tmp_path / "perturbed.onnx", seq)


def test_export_refuses_a_graph_that_fails_parity_and_leaves_no_file(net, seq, tmp_path: Path, monkeypatch) -> None:
    real = onnx_export.export_graph

    def broken_export(network, exporter="legacy"):
        model = real(network, exporter)
        for node in model.graph.node:
            if node.op_type == "GRU":
                for attr in node.attribute:
                    if attr.name == "linear_before_reset":
                        attr.i = 0
        return model

    monkeypatch.setattr(onnx_export, "export_graph", broken_export)
    out = tmp_path / "model.onnx"
    with pytest.raises(ModelError, match="not written"):
        export_network(net, META, out, "test", exporter="legacy", sequence=seq)
    assert list(tmp_path.iterdir()) == []


def test_legacy_exporter_also_passes_parity(net, seq, tmp_path: Path) -> None:
    result = export_network(net, META, tmp_path / "legacy.onnx", "test", exporter="legacy", sequence=seq)
    assert all(r.ok for r in result.parity)
    assert result.contract.provenance["parity"]["exporter"] == "legacy"


def test_two_layer_network_exports_with_its_state_shape(seq, tmp_path: Path) -> None:
    net2 = small_net(seed=3, layers=2, hidden=16)
    result = export_network(net2, META, tmp_path / "two.onnx", "test", exporter="legacy", sequence=seq)
    assert result.contract.state[0].shape == (2, 1, 16)
    assert all(r.ok for r in result.parity)


def assert_onnx_nll_equals_torch(net, result) -> Any:
    """score_onnx over 96 synthetic steps equals torch's teacher-forced NLL; returns the ONNX score."""
    from sideman.models.train import scores

    seq = synthetic_sequence(result.contract, 96, seed=5)

    class Piece:  # the shape sideman.models.train.scores and sequence_from_pieces expect
        name = "synthetic"
        tokens = np.concatenate([seq.lead[:, None], seq.parts], axis=1)
        position = seq.position

    torch_scores = scores(net, [Piece()])
    onnx_score = score_onnx(result.path, sequence_from_pieces([Piece()], None, "synthetic"))
    np.testing.assert_allclose(onnx_score.nll_per_part, torch_scores["nll"] / torch_scores["count"], rtol=1e-5)
    return onnx_score


def test_onnx_nll_equals_torch_teacher_forced_nll(net, exported) -> None:
    """score_onnx forces the true tokens through the logit bias; it must match torch's forward NLL."""
    onnx_score = assert_onnx_nll_equals_torch(net, exported)
    assert onnx_score.steps == 96 and onnx_score.step_us_p50 > 0


def test_quantize_writes_a_loadable_int8_model(exported, net, seq, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime.quantization")
    from sideman.export.quantize import compare_int8, gemm_to_matmul, quantize_int8

    with pytest.raises(ModelError, match="has an If node"):  # the default graph branches on top_p
        quantize_int8(exported.path, tmp_path / "refused.int8.onnx")
    plain = export_network(net, META, tmp_path / "plain.onnx", "test", exporter="legacy", sequence=seq)
    rewritten = gemm_to_matmul(onnx.load(plain.path))
    assert not any(n.op_type in ("Gemm", "If") for n in rewritten.graph.node)
    out = quantize_int8(plain.path, tmp_path / "model.int8.onnx")
    model = OnnxStepModel.load(out)
    assert model.contract == plain.contract
    ops = {n.op_type for n in onnx.load(out).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul"}, ops
    cmp = compare_int8(exported.path, out, synthetic_sequence(exported.contract, 64))
    assert np.isfinite(cmp.int8.nll) and abs(cmp.int8.nll - cmp.fp32.nll) < 0.5
    assert "int8:" in cmp.describe()


def test_cmd_export_from_a_checkpoint(tmp_path: Path, capsys, monkeypatch) -> None:
    from sideman.models.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "net.pt", small_net(seed=1), META)
    monkeypatch.setattr("sideman.export.parity.held_out_sequence",
                        lambda contract, n=500: synthetic_sequence(contract, min(n, 100)))
    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    args = parser.parse_args([str(tmp_path / "net.pt"), "-o", str(tmp_path / "out" / "net.onnx"), "--exporter", "legacy"])
    assert cmd_export(args) == 0
    printed = capsys.readouterr().out
    assert "greedy: 100 steps" in printed and "0 token mismatches" in printed
    contract = OnnxStepModel.load(tmp_path / "out" / "net.onnx").contract
    assert contract.provenance["export_command"].startswith("sideman export")
    assert json.loads(contract.to_json())["provenance"]["parity"]["inputs"].startswith("synthetic")


def test_export_rejects_a_bad_output_name(net, seq, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="must end in .onnx"):
        export_network(net, META, tmp_path / "model.bin", "test", exporter="legacy", sequence=seq)


def test_bench_model_quick_smoke(net, exported, tmp_path: Path, capsys) -> None:
    """`python -m benchmarks.model --quick` runs end to end and prints every section (figures not asserted)."""
    from benchmarks.model import add_bench_model_arguments, cmd_bench_model
    from sideman.models.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "same.pt", net, META)
    parser = argparse.ArgumentParser()
    add_bench_model_arguments(parser)
    args = parser.parse_args(["--model", str(exported.path), "--checkpoint", str(tmp_path / "same.pt"),
                              "--quick", "--steps", "100", "--no-int8"])
    assert cmd_bench_model(args) == 0
    printed = capsys.readouterr().out
    for needle in ("ONNX Runtime, IOBinding", "plain session.run()", "torch eager sample_step", "step   2,000",
                   "history   256", "target ONNX p99 <= 250 us"):
        assert needle in printed, needle
    assert "does not match" not in printed  # the checkpoint really has the ONNX file's weights


def test_evaluation_figures_go_into_the_provenance_only_if_they_are_for_these_weights(tmp_path: Path) -> None:
    import os

    from sideman.export.onnx_export import evaluation_summary
    from sideman.models.checkpoint import save_checkpoint

    ckpt = tmp_path / "net.pt"
    save_checkpoint(ckpt, small_net(seed=2), META)
    doc = {"checkpoint": str(ckpt), "split": "test", "pieces": 2, "steps": 300,
           "teacher_forced": {"parts": ["alto", "tenor", "bass"], "nll_gain_vs_ngram": [0.5, 0.4, 0.3],
                              "rows": {"network, lead known": {"nll": [0.31, 0.42, 0.53], "accuracy": [0.9, 0.8, 0.7]}}}}
    evaluation = tmp_path / "evaluation-test.json"
    evaluation.write_text(json.dumps(doc))
    summary = evaluation_summary(evaluation, ckpt)
    assert summary["nll_lead_known"] == [0.31, 0.42, 0.53] and summary["split"] == "test"
    # Older than the checkpoint, or about another checkpoint: not these weights' figures.
    os.utime(evaluation, (0, 0))
    assert evaluation_summary(evaluation, ckpt) == {}
    evaluation.write_text(json.dumps({**doc, "checkpoint": "other.pt"}))
    assert evaluation_summary(evaluation, ckpt) == {}
    evaluation.write_text(json.dumps(doc))
    result = onnx_export.export_checkpoint(ckpt, tmp_path / "net.onnx", "test", exporter="legacy",
                                           sequence=synthetic_sequence(build_contract(small_net(), {}, "t"), 50))
    assert result.contract.provenance["evaluation"]["test"]["nll_lead_known"] == [0.31, 0.42, 0.53]


def test_held_out_data_falls_back_to_a_synthetic_melody_and_says_so(net, monkeypatch) -> None:
    from sideman.export import parity

    def unavailable(n_steps=None):
        raise OSError("no corpus here")

    monkeypatch.setattr(parity, "held_out_pieces", unavailable)
    contract = build_contract(net, {}, "t")
    seq = parity.held_out_sequence(contract, 64)
    assert len(seq) == 64 and seq.source.startswith("synthetic")
    sessions = parity.held_out_sessions(contract, 64)
    assert len(sessions) == 1 and sessions[0].source.startswith("synthetic")


def test_a_network_whose_position_embeddings_do_not_fill_a_row_exports_and_passes_parity(seq, tmp_path: Path) -> None:
    """The network gathers all inputs from one table only when step + beat fill one row (2 * max(4, E // 2) ==
    E); other shapes gather the positions apart, and the exported step must pass the same parity check."""
    torch.manual_seed(3)
    odd = ChoraleNet(NetConfig(hidden=16, embed=6)).eval()
    assert not odd.one_table
    result = export_network(odd, META, tmp_path / "odd.onnx", "test", sequence=seq)
    assert all(r.ok for r in result.parity)
    assert OnnxStepModel.load(result.path).pair_bias is not None  # the guard's input is there too


def test_the_exported_step_keeps_its_graph_small(net, exported) -> None:
    """At batch 1 each node costs about as much as its arithmetic, so sample_step is written to trace into
    one input Gather and a GRU without a Transpose, with the nucleus only in the If branch for top_p < 1."""
    graph = onnx.load(exported.path).graph
    top = [n.op_type for n in graph.node]
    assert top.count("GRU") == 1 and "Transpose" not in top and top.count("If") == 1
    assert top.count("Gather") <= 2  # the input rows, and the last layer's state as the heads' input
    branch = {a.name: [n.op_type for n in a.g.node] for a in graph.node[top.index("If")].attribute}
    assert branch["then_branch"].count("TopK") == net.cfg.n_parts and "TopK" not in branch["else_branch"]


def test_a_network_with_a_key_input_exports_it_as_key_probs(seq, tmp_path: Path) -> None:
    """The optional `key_probs` input: in the graph, read by the runtime from its buffer, in parity, and in the
    ONNX NLL (which feeds the key heard before each step, as training's teacher-forced scores do)."""
    torch.manual_seed(2)
    key_net = ChoraleNet(NetConfig(hidden=32, embed=8, key_input=24)).eval()
    with torch.no_grad():
        key_net.gru.weight_ih_l0[:, -24:].normal_(0, 1.0)  # a key that matters
    result = export_network(key_net, META, tmp_path / "key.onnx", "test", sequence=seq)
    assert all(r.ok for r in result.parity)
    names = [i.name for i in onnx.load(result.path).graph.input]
    assert "key_probs" in names
    model = OnnxStepModel.load(result.path)
    assert model.key_probs is not None and model.key_probs.shape == (24,)
    answers = []
    for key in (0, 6):
        model.reset()
        model.key_probs[...] = 0.0
        model.key_probs[key] = 1.0
        model.step(5, 0, np.zeros(3, np.int64), (0, 0), np.zeros((3, 52), np.float32), 1.0, 1.0,
                   np.zeros((3, 52), np.float32))
        answers.append(model.last_logits.copy())
    assert np.abs(answers[0] - answers[1]).max() > 1e-3
    model.reset()
    np.testing.assert_allclose(model.key_probs, 1 / 24)
    assert_onnx_nll_equals_torch(key_net, result)


def test_a_graph_without_key_probs_has_no_key_buffer(exported) -> None:
    assert OnnxStepModel.load(exported.path).key_probs is None
