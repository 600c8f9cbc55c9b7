"""The JACK clients `sideman run` opens, named after [ports] client_name, the longest name JACK takes, and
which name JACK gave a port this process opened.

rtmidi turns a name JACK refuses into "JACK server not running?", so the name is checked first. JACK
renames a client whose name is taken ("Sideman" becomes "Sideman-01" for a second Sideman), and RtMidi
does not say so: a client of its own lists the MIDI output ports before and after the port opens, and
the new one is ours. It stays open across the opening (a client that closes while another of the
process opens can leave that one woken in only part of the cycles: watch.stale_wakeups).
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Iterator

from sideman.bridge.errors import ConfigError
from sideman.bridge.live.jack.midi_input import MIDI_TYPE, PORT_IS_OUTPUT, _bind, _names
from sideman.bridge.live.jack.watch import _NO_START_SERVER, _libjack


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


@contextlib.contextmanager
def output_ports_opened() -> Iterator[list[str]]:
    """The full names of the MIDI output ports that appear while the block runs (filled in when it ends;
    empty if JACK cannot be asked)."""
    opened: list[str] = []
    lib = _libjack()
    client = lib.jack_client_open(b"Sideman names", _NO_START_SERVER, ctypes.byref(ctypes.c_int(0))) if lib else None
    if not client:
        yield opened
        return
    _bind(lib)
    try:
        before = set(_names(lib, lib.jack_get_ports(client, None, MIDI_TYPE, PORT_IS_OUTPUT)))
        yield opened
        opened += [name for name in _names(lib, lib.jack_get_ports(client, None, MIDI_TYPE, PORT_IS_OUTPUT)) if name not in before]
    finally:
        lib.jack_client_close(client)
