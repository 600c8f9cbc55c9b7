"""Dynamic int8 quantization of an exported step graph, and its effect on test NLL and step time.

ONNX Runtime's dynamic quantization handles MatMul and Gather (not Gemm, not GRU), so the heads'
Gemm nodes are first rewritten as MatMul + Add; the GRU stays float32 either way. float32 remains
the shipped format unless int8 is both faster and no worse (see `Int8Comparison.worth_it`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sideman.bridge.errors import ModelError
from sideman.export.parity import OnnxScore, StepSequence, score_onnx_files

SPEED_MARGIN = 0.10  # int8 must be this much faster than float32 to count as faster
NLL_MARGIN = 0.001  # nats per part-step of NLL that still count as "no worse"


def gemm_to_matmul(model: Any) -> Any:
    """Rewrite Gemm(A, B, C) nodes with alpha = beta = 1, transA = 0 as MatMul(A, B') + C (in place)."""
    from onnx import helper, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0
                or attrs.get("beta", 1.0) != 1.0 or node.input[1] not in inits):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        if attrs.get("transB", 0):
            weight = weight.T.copy()
        name = node.input[1] + "_for_matmul"
        model.graph.initializer.append(numpy_helper.from_array(weight, name))
        has_bias = len(node.input) > 2 and node.input[2]
        product = node.output[0] + "_matmul" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=node.name + "_matmul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=node.name + "_add"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {i for n in model.graph.node for i in n.input}
    unused = [t for t in model.graph.initializer if t.name not in used]
    for t in unused:
        model.graph.initializer.remove(t)
    return model


def quantize_int8(fp32_path: str | os.PathLike, int8_path: str | os.PathLike) -> Path:
    """Write a dynamic-int8 copy of `fp32_path` (weights int8, activations quantized per call)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    model = gemm_to_matmul(onnx.load(fp32_path))
    if any(node.op_type == "If" for node in model.graph.node):
        # ONNX Runtime's quantizer cannot follow weights into the branches (it fails on "unknown initializers").
        raise ModelError(f"{fp32_path}: has an If node; quantize a graph exported without it "
                         "(`sideman export --quantize` does)")
    tmp = int8_path.with_name(f".{int8_path.name}.tmp")
    try:
        # quantize_dynamic logs advice about static-quantization parameters through the root logger;
        # it does not apply to dynamic quantization, so silence it for the call.
        logging.disable(logging.WARNING)
        try:
            quantize_dynamic(model, tmp, weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        quantized = onnx.load(tmp)
        # quantize_dynamic keeps metadata_props in current releases; copy them anyway so the contract survives.
        del quantized.metadata_props[:]
        quantized.metadata_props.extend(model.metadata_props)
        onnx.checker.check_model(quantized)
        onnx.save(quantized, tmp)
        os.replace(tmp, int8_path)
    finally:
        tmp.unlink(missing_ok=True)
    return int8_path


@dataclass(frozen=True)
class Int8Comparison:
    fp32: OnnxScore
    int8: OnnxScore
    fp32_bytes: int
    int8_bytes: int

    @property
    def worth_it(self) -> bool:
        """int8 replaces float32 only if it is clearly faster (by more than timing noise, 10%) and
        no worse on test NLL (by more than 0.001 nats, below what anyone could hear)."""
        return (self.int8.step_us_p50 < (1 - SPEED_MARGIN) * self.fp32.step_us_p50
                and self.int8.nll <= self.fp32.nll + NLL_MARGIN)

    def describe(self) -> str:
        f, q = self.fp32, self.int8
        return (f"fp32: {self.fp32_bytes / 1024:.0f} KiB, test NLL {f.nll:.4f} nats/part-step, "
                f"step p50 {f.step_us_p50:.0f} us (p99 {f.step_us_p99:.0f})\n"
                f"int8: {self.int8_bytes / 1024:.0f} KiB, test NLL {q.nll:.4f} ({q.nll - f.nll:+.4f}), "
                f"step p50 {q.step_us_p50:.0f} us (p99 {q.step_us_p99:.0f}) over {f.steps} steps\n"
                f"-> {'int8 is faster and no worse' if self.worth_it else 'keep float32'}")


def compare_int8(fp32_path: str | os.PathLike, int8_path: str | os.PathLike,
                 sessions: StepSequence | Sequence[StepSequence]) -> Int8Comparison:
    """Test NLL and step time of both files on the same held-out sessions."""
    fp32, int8 = score_onnx_files([fp32_path, int8_path], sessions)
    return Int8Comparison(fp32, int8, Path(fp32_path).stat().st_size, Path(int8_path).stat().st_size)
