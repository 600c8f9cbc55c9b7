"""bridge/model/runtime.py: loading and validating model files, stepping, snapshot/restore, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sideman.bridge.model.contract import METADATA_KEY, Contract, StateSpec, Voice
from sideman.bridge.errors import ModelError
from sideman.bridge.model.runtime import OnnxStepModel
from sideman.bridge.model.sampling import FORBIDDEN, decode_order_indices, gumbel_noise, range_bias

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from tests.bridge.model.reference_decode import sample_tokens
from tests.paths import REPO

P, V, H = 3, 52, 8

CONTRACT = Contract(
    name="fake",
    lead=Voice("soprano", 60, 81),
    parts=(Voice("alto", 53, 74, 2), Voice("tenor", 48, 69, 3), Voice("bass", 36, 64, 4)),
    state=(StateSpec("state", "state_out", (1, 1, H)),),
)


def fake_model(path: Path, contract_json: str | None = None, *, tokens_type: int = TensorProto.INT64,
               state_dims: tuple[int, ...] = (1, 1, H), extra_input: bool = False,
               pair_bias_dims: tuple[int, ...] | None = None) -> Path:
    """A tiny graph with the contract's inputs and outputs (logits = noise + bias, state passes through)."""
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    inputs = [helper.make_tensor_value_info(n, i64, s) for n, s in
              (("lead", [1]), ("prev_lead", [1]), ("prev_parts", [P]), ("position", [2]))]
    inputs += [helper.make_tensor_value_info("noise", f, [P, V]), helper.make_tensor_value_info("temperature", f, [1]),
               helper.make_tensor_value_info("top_p", f, [1]), helper.make_tensor_value_info("logit_bias", f, [P, V]),
               helper.make_tensor_value_info("state", f, list(state_dims))]
    nodes = [helper.make_node("Add", ["noise", "logit_bias"], ["logits"]),
             helper.make_node("ArgMax", ["logits"], ["tokens_i"], axis=1, keepdims=0),
             helper.make_node("Cast", ["tokens_i"], ["tokens"], to=tokens_type),
             helper.make_node("Identity", ["state"], ["state_out"])]
    if pair_bias_dims is not None:  # the optional input (read by the graph only if its shape is right)
        inputs.append(helper.make_tensor_value_info("pair_bias", f, list(pair_bias_dims)))
    if extra_input:
        inputs.append(helper.make_tensor_value_info("volume", f, [1]))
        nodes.append(helper.make_node("Identity", ["volume"], ["volume_out"]))
    outputs = [helper.make_tensor_value_info("logits", f, [P, V]), helper.make_tensor_value_info("tokens", tokens_type, [P]),
               helper.make_tensor_value_info("state_out", f, list(state_dims))]
    if extra_input:
        outputs.append(helper.make_tensor_value_info("volume_out", f, [1]))
    model = helper.make_model(helper.make_graph(nodes, "fake", inputs, outputs), opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    if contract_json is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, contract_json
    onnx.save(model, path)
    return path


def contract_doc(**changes: object) -> str:
    doc = json.loads(CONTRACT.to_json())
    doc.update(changes)
    return json.dumps(doc)


def shifted_pitches(shift: int) -> str:
    doc = json.loads(CONTRACT.to_json())
    doc["vocab"]["pitch_min"] += shift
    doc["vocab"]["pitch_max"] += shift
    for voice in (doc["lead"], *doc["parts"]):
        voice["range"] = [pitch + shift for pitch in voice["range"]]
    return json.dumps(doc)


# -- validation ------------------------------------------------------------------------------------


def test_fake_model_loads_and_steps(tmp_path: Path) -> None:
    model = OnnxStepModel.load(fake_model(tmp_path / "ok.onnx", CONTRACT.to_json()))
    assert model.contract == CONTRACT and (model.n_parts, model.vocab_size) == (P, V)
    assert model.pair_bias is None  # a graph without the optional input (as exported before it) still loads
    with_pairs = OnnxStepModel.load(fake_model(tmp_path / "pairs.onnx", CONTRACT.to_json(), pair_bias_dims=(P, P, V, V)))
    assert with_pairs.pair_bias is not None and with_pairs.pair_bias.shape == (P, P, V, V)
    bias = np.zeros((P, V), np.float32)
    noise = np.zeros((P, V), np.float32)
    noise[np.arange(P), [10, 20, 30]] = 1.0
    tokens = model.step(5, 5, np.zeros(P, np.int64), (0, 0), noise, 1.0, 1.0, bias)
    assert tokens.tolist() == [10, 20, 30]
    np.testing.assert_array_equal(model.last_logits, noise)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "no such model file"),
        ("directory", "is a directory; give the model's .onnx file"),
        ("not_onnx", "not a loadable ONNX model"),
        ("no_metadata", "no 'sideman.contract' metadata"),
        ("garbled", "not valid JSON"),
        ("version", "contract version 99 is not supported"),
        ("incomplete", "lacks or mistypes a field"),
        ("missing_input", "no input 'hidden'"),
        ("state_shape", "input 'state' has shape [1, 1, 4], the contract requires [1, 1, 8]"),
        ("tokens_dtype", "output 'tokens' is tensor(float), the contract requires int64"),
        ("extra_input", "inputs the contract does not define: volume"),
        ("pair_bias_shape", f"input 'pair_bias' has shape [{P}, {P}, {V}, 4], the contract requires [{P}, {P}, {V}, {V}]"),
        ("pitches_above_127", "vocab pitch range [116, 164] is not within MIDI's 0..127"),
        ("pitches_below_0", "vocab pitch range [-4, 44] is not within MIDI's 0..127"),
        ("part_channel", "part 'bass' suggests channel 17; MIDI channels are 1..16"),
    ],
)
def test_bad_model_files_give_one_line_naming_the_file(tmp_path: Path, case: str, expected: str) -> None:
    path = tmp_path / f"{case}.onnx"
    if case == "directory":
        path.mkdir()
    elif case == "not_onnx":
        path.write_bytes(b"MThd this is a MIDI file, not a model")
    elif case == "no_metadata":
        fake_model(path, None)
    elif case == "garbled":
        fake_model(path, '{"contract_version": 1, "name": ')
    elif case == "version":
        fake_model(path, contract_doc(contract_version=99))
    elif case == "incomplete":
        doc = json.loads(CONTRACT.to_json())
        del doc["parts"]
        fake_model(path, json.dumps(doc))
    elif case == "missing_input":
        fake_model(path, contract_doc(state=[{"input": "hidden", "output": "state_out", "shape": [1, 1, H]}]))
    elif case == "state_shape":
        fake_model(path, CONTRACT.to_json(), state_dims=(1, 1, 4))
    elif case == "tokens_dtype":
        fake_model(path, CONTRACT.to_json(), tokens_type=TensorProto.FLOAT)
    elif case == "extra_input":
        fake_model(path, CONTRACT.to_json(), extra_input=True)
    elif case == "pair_bias_shape":
        fake_model(path, CONTRACT.to_json(), pair_bias_dims=(P, P, V, 4))
    elif case.startswith("pitches_"):  # the whole vocabulary shifted, same size: only MIDI's range is broken
        fake_model(path, shifted_pitches(80 if case == "pitches_above_127" else -40))
    elif case == "part_channel":
        doc = json.loads(CONTRACT.to_json())
        doc["parts"][2]["channel"] = 17
        fake_model(path, json.dumps(doc))
    with pytest.raises(ModelError) as info:
        OnnxStepModel.load(path)
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message
    assert "\n" not in message


# -- a real exported network -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from sideman.export.onnx_export import build_contract, export_network
    from sideman.export.parity import synthetic_sequence
    from sideman.models.network import ChoraleNet, NetConfig

    torch.manual_seed(11)
    net = ChoraleNet(NetConfig(hidden=32, embed=8)).eval()
    out = tmp_path_factory.mktemp("runtime") / "random.onnx"
    seq = synthetic_sequence(build_contract(net, {}, "test"), 64)
    export_network(net, {"command": "random init"}, out, "test export", exporter="legacy", sequence=seq)
    return out


def _drive(model: OnnxStepModel, rng: np.random.Generator, n: int, temperature: float = 0.9, top_p: float = 0.95
           ) -> tuple[list[list[int]], list[np.ndarray]]:
    """n steps of a fixed lead pattern fed back the model's own tokens; returns tokens and logits."""
    bias = range_bias(model.contract)
    noise = np.empty((model.n_parts, model.vocab_size), np.float32)
    prev = np.zeros(model.n_parts, np.int64)
    tokens_seen, logits_seen = [], []
    for t in range(n):
        gumbel_noise(rng, noise.shape, out=noise)
        lead = model.contract.vocab.onset(60 + (t * 5) % 20) if t % 4 == 0 else model.contract.vocab.hold
        tokens = model.step(lead, lead, prev, (t % 4, (t // 4) % 4), noise, temperature, top_p, bias)
        prev = tokens.copy()
        tokens_seen.append(prev.tolist())
        logits_seen.append(model.last_logits.copy())
    return tokens_seen, logits_seen


def test_snapshot_restore_gives_bit_identical_continuations(exported: Path) -> None:
    model = OnnxStepModel.load(exported)
    _drive(model, np.random.default_rng(0), 20)
    snap = model.snapshot()
    first = _drive(model, np.random.default_rng(1), 30)
    model.restore(snap)
    second = _drive(model, np.random.default_rng(1), 30)
    assert first[0] == second[0]
    assert all(np.array_equal(a, b) for a, b in zip(first[1], second[1]))
    # A different continuation really differs, so the comparison above can fail.
    model.restore(snap)
    assert _drive(model, np.random.default_rng(2), 30)[0] != first[0]


def test_snapshot_is_a_copy(exported: Path) -> None:
    model = OnnxStepModel.load(exported)
    _drive(model, np.random.default_rng(0), 5)
    snap = model.snapshot()
    saved = [s.copy() for s in snap.states]
    _drive(model, np.random.default_rng(0), 5)
    assert all(np.array_equal(a, b) for a, b in zip(saved, snap.states))


def test_reset_starts_a_session_afresh(exported: Path) -> None:
    fresh = _drive(OnnxStepModel.load(exported), np.random.default_rng(4), 25)
    model = OnnxStepModel.load(exported)
    _drive(model, np.random.default_rng(9), 17)
    model.reset()
    assert all(not s.any() for s in model.state)
    again = _drive(model, np.random.default_rng(4), 25)
    assert fresh[0] == again[0] and all(np.array_equal(a, b) for a, b in zip(fresh[1], again[1]))


def test_iobinding_steps_match_plain_session_run(exported: Path) -> None:
    """The ping-pong state buffers must give exactly what feeding the state back by hand gives."""
    model = OnnxStepModel.load(exported)
    spec = model.contract.state[0]
    bias = range_bias(model.contract)
    rng = np.random.default_rng(3)
    state = np.zeros(spec.shape, np.float32)
    prev = np.zeros(model.n_parts, np.int64)
    for t in range(40):
        noise = gumbel_noise(rng, (model.n_parts, model.vocab_size))
        feeds = {"lead": np.array([3 + t % 40]), "prev_lead": np.array([1]), "prev_parts": prev,
                 "position": np.array([t % 4, t // 4 % 4]), "noise": noise, "temperature": np.array([0.8], np.float32),
                 "top_p": np.array([0.9], np.float32), "logit_bias": bias, spec.input: state}
        # The bound pair_bias buffer is read as it is at each call (here: a random ban every other step).
        model.pair_bias[...] = np.where(rng.random(model.pair_bias.shape) < 0.3 * (t % 2), FORBIDDEN, 0.0)
        feeds["pair_bias"] = model.pair_bias.copy()
        logits, tokens, state = model.session.run(["logits", "tokens", spec.output], feeds)
        got = model.step(3 + t % 40, 1, prev, (t % 4, t // 4 % 4), noise, 0.8, 0.9, bias)
        assert np.array_equal(got, tokens) and np.array_equal(model.last_logits, logits)
        assert np.array_equal(model.state[0], state)
        prev = tokens


def test_beat_in_bar_is_clipped(exported: Path) -> None:
    model = OnnxStepModel.load(exported)
    bias = range_bias(model.contract)
    zeros = np.zeros((model.n_parts, model.vocab_size), np.float32)
    last = model.contract.max_beats_in_bar - 1
    snap = model.snapshot()
    clipped = model.step(10, 10, np.zeros(3, np.int64), (0, last + 5), zeros, 1.0, 1.0, bias).copy()
    logits = model.last_logits.copy()
    model.restore(snap)
    assert np.array_equal(model.step(10, 10, np.zeros(3, np.int64), (0, last), zeros, 1.0, 1.0, bias), clipped)
    assert np.array_equal(model.last_logits, logits)


def test_graph_sampling_matches_the_numpy_reference(exported: Path) -> None:
    model = OnnxStepModel.load(exported)
    order = decode_order_indices(model.contract)
    bias = range_bias(model.contract)
    rng = np.random.default_rng(21)
    prev = np.zeros(model.n_parts, np.int64)
    noise_mattered = nucleus_mattered = pairs_mattered = 0
    for t in range(300):
        temperature, top_p = [(1.0, 1.0), (0.7, 0.9), (1.5, 0.6)][t % 3]
        noise = gumbel_noise(rng, (model.n_parts, model.vocab_size))
        # Every 4th step, ban half of what the later parts could answer to each earlier choice.
        model.pair_bias[...] = np.where(rng.random(model.pair_bias.shape) < 0.5 * (t % 4 == 0), FORBIDDEN, 0.0)
        tokens = model.step(3 + (t * 7) % 40, 1, prev, (t % 4, 0), noise, temperature, top_p, bias).copy()
        expected = sample_tokens(model.last_logits, temperature, top_p, bias, noise, order, model.pair_bias)
        assert tokens.tolist() == expected.tolist(), t
        pairs_mattered += bool((sample_tokens(model.last_logits, temperature, top_p, bias, noise, order)
                                != tokens).any())
        greedy = sample_tokens(model.last_logits, temperature, top_p, bias, np.zeros_like(noise), order)
        no_nucleus = sample_tokens(model.last_logits, temperature, 1.0, bias, noise, order)
        noise_mattered += bool((greedy != tokens).any())
        nucleus_mattered += bool((no_nucleus != tokens).any())
        prev = tokens
    # The comparison exercised both the noise and the top-p cut, so it could have failed on either.
    assert noise_mattered > 50 and nucleus_mattered > 20 and pairs_mattered > 10


def test_runtime_works_without_torch(exported: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "music21"):
                    raise ImportError("blocked for this test: " + name)
                return None
        sys.meta_path.insert(0, NoTorch())
        import numpy as np
        import sideman.bridge.model.runtime
        from sideman.bridge.model.sampling import range_bias
        model = sideman.bridge.model.runtime.OnnxStepModel.load({str(exported)!r})
        z = np.zeros((model.n_parts, model.vocab_size), np.float32)
        tokens = model.step(20, 20, np.zeros(model.n_parts, np.int64), (0, 0), z, 1.0, 1.0, range_bias(model.contract))
        assert not any(m.split(".")[0] in ("torch", "music21") for m in sys.modules)
        try:
            import torch
        except ImportError:
            print("ok", tokens.tolist())
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok [")


def test_demo_refuses_a_model_with_pitches_outside_midi_in_one_line(tmp_path: Path) -> None:
    path = fake_model(tmp_path / "high.onnx", shifted_pitches(80))
    proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "demo", "--model", str(path), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"sideman: error: {path}: vocab pitch range [116, 164] is not within MIDI's 0..127"], proc.stderr
