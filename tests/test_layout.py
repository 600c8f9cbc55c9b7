"""The package's rooms hold (tests/layout.py), and what a wheel installs is `sideman` and nothing else."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import mido
import pytest

from tests.layout import package_sources, violations
from tests.paths import REPO


def test_no_room_imports_above_itself_and_no_import_circle():
    assert violations(package_sources()) == []


def test_the_layering_check_catches_each_kind_of_break():
    fake = {
        "sideman.bridge.core.engine": ("from sideman.bridge.live.loop import LiveBridge\n", False),
        "sideman.bridge.live.loop": ("import sideman.bridge.core.engine\n", False),
        "sideman.bridge.model.runtime": ("import torch\nfrom tests.fakes import FakeStepModel\n", False),
        "sideman.bridge.offline.render": ("from sideman.bridge.live.jack import relay\n", False),
        "sideman.bridge.live.jack.relay": ("from ..ports import open_input\n", False),
        "sideman.bridge.live.ports": ("from .jack.relay import RelayedInput\n", False),
    }
    found = "\n".join(violations(fake))
    assert "sideman.bridge.core.engine (bridge.core) imports sideman.bridge.live.loop (bridge.live)" in found
    assert "nothing under bridge/ imports torch" in found
    assert "the package never imports tests" in found
    assert "sideman.bridge.offline.render (bridge.offline) imports sideman.bridge.live.jack.relay (bridge.live.jack)" in found
    assert "import circle: sideman.bridge.live.jack.relay -> sideman.bridge.live.ports -> sideman.bridge.live.jack.relay" in found
    assert "import circle: sideman.bridge.core.engine -> sideman.bridge.live.loop" in found


def build_wheel(out: Path) -> Path:
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    [wheel] = out.glob("sideman-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_only_the_sideman_package_its_data_and_the_command(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"sideman", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert "sideman/__init__.py" not in names  # a namespace package: the three folders are its parts
    for needed in ("sideman/bridge/cli.py", "sideman/bridge/assets/chorale-gru.onnx", "sideman/bridge/assets/demo-melody.mid",
                   "sideman/bridge/live/jack/relay.py", "sideman/models/splits/test.txt", "sideman/export/onnx_export.py"):
        assert needed in names, needed
    assert not [n for n in names if "/tests/" in n or "/benchmarks/" in n or n.endswith(".pt")]
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "sideman = sideman.bridge.cli:main" in entry_points


@pytest.mark.slow
def test_a_plain_install_in_a_fresh_venv_plays_from_any_folder_without_torch_or_music21(wheel, tmp_path, jack_server):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python, sideman = env_dir / "bin" / "python", env_dir / "bin" / "sideman"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"HOME": str(tmp_path)}

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(sideman), *args], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300, **kwargs)

    missing = subprocess.run([str(python), "-c", "import importlib.util as u; print([m for m in ('torch', 'music21') if u.find_spec(m)])"],
                             capture_output=True, text=True, env=env, cwd=elsewhere)
    assert missing.stdout.strip() == "[]"
    demo = run("demo", "--out-dir", str(elsewhere))
    assert demo.returncode == 0, demo.stderr
    assert mido.MidiFile(elsewhere / "sideman-demo.mid").tracks
    jam = run("accompany", str(elsewhere / "sideman-demo.mid"), "-o", str(elsewhere / "jam.mid"))
    assert jam.returncode == 0, jam.stderr
    assert len(mido.MidiFile(elsewhere / "jam.mid").tracks) >= 2
    live = subprocess.Popen([str(sideman), "run", "--api", "jack", "--no-record", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=elsewhere, env=env)
    try:
        deadline = time.monotonic() + 60
        banner = ""
        while time.monotonic() < deadline and "listening on" not in banner:
            line = live.stdout.readline()
            if not line and live.poll() is not None:
                break
            banner += line
        assert "listening on" in banner, (banner, live.stderr.read() if live.poll() is not None else "")
    finally:
        live.send_signal(signal.SIGINT)
        try:
            out, err = live.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            live.kill()  # never leave a hung sideman behind on the test machine's JACK server
            out, err = live.communicate()
            raise AssertionError(f"sideman run did not stop within 30 s of SIGINT: {err[-2000:]}") from None
    assert live.returncode == 0, err
    assert "Sideman stopped" in out
    shutil.rmtree(env_dir)
