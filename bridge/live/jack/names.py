"""The JACK clients `sideman run` opens, named after [ports] client_name, and the longest name JACK takes.

rtmidi turns a name JACK refuses into "JACK server not running?", so the name is checked first.
"""

from __future__ import annotations

import ctypes

from sideman.bridge.errors import ConfigError
from sideman.bridge.live.jack.watch import _libjack


def relay_client(client_name: str) -> str:
    """The input relay's client: "Sideman-in", so that scripts can rely on "Sideman-in:Sideman In"."""
    return f"{client_name}-in"


def watch_client(client_name: str) -> str:
    return f"{client_name} watch"


def longest_client_name() -> int | None:
    """The longest client name (bytes) this libjack accepts, or None without libjack."""
    lib = _libjack()
    if lib is None:
        return None
    lib.jack_client_name_size.restype = ctypes.c_int
    lib.jack_client_name_size.argtypes = []
    # jack_client_name_size() counts the final NUL, and JACK2 refuses a name of exactly size - 1 bytes too.
    return lib.jack_client_name_size() - 2


def check_client_name(client_name: str, limit: int | None = None) -> None:
    """ConfigError if a port's client named after `client_name` would be longer than JACK takes (the
    watch client shortens its own name: JACK then makes it unique)."""
    limit = longest_client_name() if limit is None else limit
    longest = relay_client(client_name)
    if limit is not None and len(longest.encode()) > limit:
        room = limit - (len(longest.encode()) - len(client_name.encode()))
        raise ConfigError(f"[ports] client_name = {client_name!r}: too long for JACK, which takes client names of up "
                          f"to {limit} bytes, and Sideman's input is the client '{longest}'; give at most {room} bytes")
