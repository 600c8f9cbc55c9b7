"""Where training writes by default: the repository's models/default/ in a checkout, a user directory when installed."""

from __future__ import annotations

from pathlib import Path

from sideman.models.paths import default_checkpoint
from tests.paths import REPO


def test_a_source_checkout_trains_into_the_committed_models_default():
    assert default_checkpoint() == REPO / "models" / "default" / "chorale-gru.pt"
    assert default_checkpoint(REPO / "models") == REPO / "models" / "default" / "chorale-gru.pt"


def test_an_installed_package_trains_into_a_user_directory(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    package = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "sideman" / "models"
    package.mkdir(parents=True)
    assert default_checkpoint(package) == home / ".local" / "share" / "sideman" / "models" / "chorale-gru.pt"
    assert not Path(home).exists()  # found, not made: training makes it when it saves
