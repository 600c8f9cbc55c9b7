"""Where the checkout is, for tests that run `python -m ...` or read repository files."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
