"""Benchmarks and studies: developer tools run from a checkout (`python -m benchmarks.live`), never installed."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from sideman.bridge.errors import SidemanError


def run_command(prog: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                command: Callable[[argparse.Namespace], int], argv: Sequence[str] | None = None) -> int:
    """Parse `argv` for one benchmark and run it; a SidemanError is one line and its exit code, as in `sideman`."""
    parser = argparse.ArgumentParser(prog=prog)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return int(command(args) or 0)
    except SidemanError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
