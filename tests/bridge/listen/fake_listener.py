"""A tiny ONNX file with the listener contract's inputs, outputs and metadata, built without torch.

key_probs = softmax(features @ W_key), chord_probs = softmax(features @ W_chord); the one cache
shifts left by one step and takes the first C features as its newest column.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sideman.bridge.listen.contract import LISTENER_METADATA_KEY, ListenerContract
from sideman.bridge.listen.features import N_FEATURES
from sideman.bridge.listen.names import N_CHORDS, N_KEYS
from sideman.bridge.model.contract import StateSpec

C, W = 4, 2
CONTRACT = ListenerContract("fake-listener", (StateSpec("cache0", "cache0_out", (1, C, W)),), receptive_field=W + 1)


def contract_json(**changes: object) -> str:
    doc = json.loads(CONTRACT.to_json())
    doc.update(changes)
    return json.dumps(doc)


def fake_listener(path: Path, metadata: str | None = CONTRACT.to_json(), key_size: int = N_KEYS, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    f = TensorProto.FLOAT
    inits = [numpy_helper.from_array(rng.normal(size=(N_FEATURES, key_size)).astype(np.float32), "w_key"),
             numpy_helper.from_array(rng.normal(size=(N_FEATURES, N_CHORDS)).astype(np.float32), "w_chord"),
             numpy_helper.from_array(np.array([1, N_FEATURES], np.int64), "row"),
             numpy_helper.from_array(np.array([-1], np.int64), "flat"),
             numpy_helper.from_array(np.array([1, C, 1], np.int64), "column"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([1], np.int64), "one"),
             numpy_helper.from_array(np.array([C], np.int64), "c"),
             numpy_helper.from_array(np.array([W], np.int64), "w"),
             numpy_helper.from_array(np.array([2], np.int64), "time_axis")]
    nodes = [helper.make_node("Reshape", ["features", "row"], ["x"]),
             helper.make_node("MatMul", ["x", "w_key"], ["key_logits"]),
             helper.make_node("Softmax", ["key_logits"], ["key_2d"], axis=1),
             helper.make_node("Reshape", ["key_2d", "flat"], ["key_probs"]),
             helper.make_node("MatMul", ["x", "w_chord"], ["chord_logits"]),
             helper.make_node("Softmax", ["chord_logits"], ["chord_2d"], axis=1),
             helper.make_node("Reshape", ["chord_2d", "flat"], ["chord_probs"]),
             helper.make_node("Slice", ["features", "zero", "c"], ["head"]),
             helper.make_node("Reshape", ["head", "column"], ["newest"]),
             helper.make_node("Slice", ["cache0", "one", "w", "time_axis"], ["older"]),
             helper.make_node("Concat", ["older", "newest"], ["cache0_out"], axis=2)]
    inputs = [helper.make_tensor_value_info("features", f, [N_FEATURES]), helper.make_tensor_value_info("cache0", f, [1, C, W])]
    outputs = [helper.make_tensor_value_info("key_probs", f, [key_size]), helper.make_tensor_value_info("chord_probs", f, [N_CHORDS]),
               helper.make_tensor_value_info("cache0_out", f, [1, C, W])]
    model = helper.make_model(helper.make_graph(nodes, "fake-listener", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    if metadata is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = LISTENER_METADATA_KEY, metadata
    onnx.save(model, path)
    return path
