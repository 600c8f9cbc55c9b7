"""Helpers shared by the ports and the JACK input relay; light imports only (the relay starts fast)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import Collection, Iterator

from sideman.bridge.errors import PortNotFoundError


@contextlib.contextmanager
def _quiet_c_stderr() -> Iterator[None]:
    """Hide what the C MIDI libraries print while we probe them (ALSA and JACK write to fd 2)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _find_port(names: list[str], wanted: str, direction: str) -> int:
    matches = [i for i, n in enumerate(names) if wanted.lower() in n.lower()]
    if not matches:
        listing = ", ".join(repr(n) for n in names) or "none"
        raise PortNotFoundError(f"no MIDI {direction} port matches {wanted!r} (available: {listing})")
    if len(matches) > 1:
        exact = [i for i in matches if names[i].lower() == wanted.lower()]
        if len(exact) != 1:
            listing = ", ".join(repr(names[i]) for i in matches)
            raise PortNotFoundError(f"{wanted!r} matches several MIDI {direction} ports ({listing}); give more of the name")
        return exact[0]
    return matches[0]


def is_sideman_port(name: str, client_name: str, port_names: Collection[str]) -> bool:
    """Whether `name`, as a MIDI API lists it, is a running Sideman's own port: client `client_name` (under JACK
    "-in" for the input's relay process, "-01", "-02"... for a second Sideman), port one of `port_names`
    (ALSA adds " client:port" numbers)."""
    ports = "|".join(re.escape(port) for port in port_names)
    return re.fullmatch(rf"{re.escape(client_name)}(-in)?(-\d+)?:({ports})( \d+:\d+)?", name) is not None
