"""Notice when the JACK server goes away while Sideman runs.

python-rtmidi says nothing when the JACK server stops: sends still succeed (into a ring buffer no one
drains), the input just falls silent, and port listings keep showing the dead server's ports. A
bridge would play on into nothing until killed. JACK's own notice is a client's shutdown callback,
which rtmidi does not expose, so this module opens one more JACK client through libjack (ctypes, no
new dependency: rtmidi's JACK backend loads the same library) only to receive that callback.

The same client can count the server's xruns (`count_xruns=True`): cycles in which some client, any
client, finished late. Then JACK drops or repeats that cycle's MIDI whatever Sideman does, and a
musician should know. libjack sends xrun notices only to active clients, so such a watch is activated;
it has no ports and no process callback, so the server never waits for it in a cycle. The count runs
without Python where libc has unnamed semaphores (Linux): libc's `sem_post` itself is the callback. A
Python callback would need the GIL in libjack's notification thread, and a thread holding the GIL inside
a JACK request (python-rtmidi keeps it while it opens or closes a client) would then hang with the
server, which waits to hand the notice over.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from typing import Callable

log = logging.getLogger("sideman")

_NO_START_SERVER = 0x01  # JackNoStartServer: never start a server as a side effect
_INFO_SHUTDOWN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_XRUN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
CLOSE_TIMEOUT = 1.0  # a live server closes a client in milliseconds
_KEPT: list[object] = []  # native counters stay alive: a client whose close timed out may still post


class _NativeCounter:
    """A count that libjack's thread raises with no Python: libc's `sem_post(sem)` is an `int f(void *)`,
    the xrun callback's own type, so it is given as the callback with the semaphore as its argument."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        self._sem = (ctypes.c_long * 8)()  # room and alignment for any libc's sem_t
        libc.sem_init.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint]
        if libc.sem_init(ctypes.addressof(self._sem), 0, 0) != 0:  # macOS has no unnamed semaphores
            raise OSError("sem_init failed")
        self._getvalue = libc.sem_getvalue
        self._getvalue.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        self.callback = ctypes.cast(libc.sem_post, _XRUN)
        self.arg = ctypes.addressof(self._sem)
        _KEPT.append(self)

    @property
    def value(self) -> int:
        value = ctypes.c_int(0)
        self._getvalue(self.arg, ctypes.byref(value))
        return value.value


def _native_counter() -> "_NativeCounter | None":
    try:
        return _NativeCounter()
    except (OSError, AttributeError):
        return None


def _libjack() -> ctypes.CDLL | None:
    for name in (ctypes.util.find_library("jack"), "libjack.so.0", "libjack.dylib", "libjack64.dll"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.jack_client_open.restype = ctypes.c_void_p
        lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.jack_on_info_shutdown.restype = None
        lib.jack_on_info_shutdown.argtypes = [ctypes.c_void_p, _INFO_SHUTDOWN, ctypes.c_void_p]
        lib.jack_client_close.restype = ctypes.c_int
        lib.jack_client_close.argtypes = [ctypes.c_void_p]
        lib.jack_is_realtime.restype = ctypes.c_int
        lib.jack_is_realtime.argtypes = [ctypes.c_void_p]
        lib.jack_set_xrun_callback.restype = ctypes.c_int
        lib.jack_set_xrun_callback.argtypes = [ctypes.c_void_p, _XRUN, ctypes.c_void_p]
        lib.jack_activate.restype = ctypes.c_int
        lib.jack_activate.argtypes = [ctypes.c_void_p]
        lib.jack_last_frame_time.restype = ctypes.c_uint32
        lib.jack_last_frame_time.argtypes = [ctypes.c_void_p]
        return lib
    return None


class JackWatch:
    """Calls `on_lost(reason)` (from a libjack thread) if the JACK server shuts down or drops us."""

    def __init__(self, lib: ctypes.CDLL, client: int, on_lost: Callable[[str], None], count_xruns: bool = False) -> None:
        self.lost: str | None = None
        self._python_xruns = 0  # the count where libc gives no native counter
        self._lib = lib
        self._client = client
        self._on_lost = on_lost
        self._callback = _INFO_SHUTDOWN(self._shutdown)  # kept referenced: libjack holds a raw pointer
        lib.jack_on_info_shutdown(client, self._callback, None)
        self._native = _native_counter() if count_xruns else None
        if self._native is not None:
            self._xrun_callback, xrun_arg = self._native.callback, self._native.arg
        else:
            self._xrun_callback, xrun_arg = _XRUN(self._xrun), None
        # Callbacks must be set before activation; activation is what makes libjack deliver xrun notices.
        self.counting_xruns = count_xruns and lib.jack_set_xrun_callback(client, self._xrun_callback, xrun_arg) == 0 \
            and lib.jack_activate(client) == 0

    @property
    def xruns(self) -> int:
        """Xrun notices since the watch opened (0 unless counting_xruns)."""
        return self._native.value if self._native is not None else self._python_xruns

    @classmethod
    def open(cls, name: str, on_lost: Callable[[str], None], count_xruns: bool = False) -> "JackWatch | None":
        """A watch on the default JACK server, or None if libjack or the server cannot be reached.

        With count_xruns, `xruns` counts the server's xrun notices (if it cannot, `counting_xruns` stays False).
        """
        lib = _libjack()
        if lib is None:
            log.debug("libjack not found: the bridge cannot notice if the JACK server stops")
            return None
        status = ctypes.c_int(0)
        client = lib.jack_client_open(name.encode("utf-8", "replace")[:60], _NO_START_SERVER, ctypes.byref(status))
        if not client:
            log.debug("cannot open a JACK watch client (status 0x%x)", status.value)
            return None
        return cls(lib, client, on_lost, count_xruns)

    @property
    def server_realtime(self) -> bool:
        """Whether the server runs its clients' process threads with realtime scheduling (jackd -R)."""
        return bool(self._client) and bool(self._lib.jack_is_realtime(self._client))

    def last_frame_time(self) -> int:
        """The server's frame time at its last cycle (shared memory, no request): it stands still while the
        server runs no cycle (sideman.bridge.live.jack.stall_guard). Once the server is gone, 0 without asking libjack: its
        shared memory may be gone with it."""
        if not self._client or self.lost is not None:
            return 0
        return int(self._lib.jack_last_frame_time(self._client))

    def _shutdown(self, code: int, reason: bytes | None, _arg: object) -> None:
        text = (reason or b"").decode("utf-8", "replace").strip() or "no reason given"
        self.lost = text
        self._on_lost(text)

    def _xrun(self, _arg: object) -> int:
        self._python_xruns += 1  # libjack's notification thread; only this thread writes it
        return 0

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Close the client, waiting at most `timeout` s: a server that runs no cycle never answers, and
        the client is then left for it to remove (ctypes lets the waiting thread go without the GIL)."""
        # After a shutdown the client is already dead: closing it again would talk to no server.
        client, self._client = self._client, 0
        if client and self.lost is None:
            closing = threading.Thread(target=self._lib.jack_client_close, args=(client,), name="sideman-jack-close", daemon=True)
            closing.start()
            closing.join(timeout)


def stale_wakeups(maps: str | None = None) -> list[str]:
    """Closed JACK clients whose wake-up semaphore this process still holds (Linux; elsewhere []).

    JACK2 (seen with 1.9.21) keeps, per process, a table of every client's semaphore: a client that
    finishes its cycle wakes the clients listening to it through that table. When a client closes
    while a client of this process is still opening, the entry can stay (seen; most likely because
    libjack skips a removal until the opening client's control block is mapped). JACK reuses client numbers:
    the next client to get that number is then woken through the dead client's semaphore whenever this
    process is the last of its sources to finish, i.e. in only part of the cycles, and loses MIDI.
    Seen here: a DAW-side jack_midi_dump ran in 3-15% of the cycles and heard 93 of 1,440 clock pulses.
    Only closing every JACK client of the process clears the table (see `reopen_while_stale`).

    On Linux the semaphores are files in /dev/shm that the server unlinks when their client closes,
    so a stale entry is a mapping of `jack_sem.UID_SERVER_CLIENT (deleted)` in /proc/self/maps.
    """
    if maps is None:
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
                maps = f.read()
        except OSError:
            return []
    stale = []
    for line in maps.splitlines():
        path = line.rstrip()
        if path.endswith(" (deleted)") and "/jack_sem." in path:
            name = path[: -len(" (deleted)")].rsplit("/jack_sem.", 1)[1]
            if name not in stale:
                stale.append(name)
    return stale


REOPEN_ATTEMPTS = 10  # each try is another opening, which can catch a closing client again


def reopen_while_stale(reopen: Callable[[], None], attempts: int = REOPEN_ATTEMPTS,
                       stale: Callable[[], list[str]] = stale_wakeups) -> list[str]:
    """While this process holds a closed client's semaphore, call `reopen`, at most `attempts` times.

    `reopen` must close every JACK client of this process and open them again (libjack frees its
    table when the last one closes). Returns what is still stale: [] when the clients are clean.
    """
    left = stale()
    for attempt in range(attempts):
        if not left:
            break
        log.debug("JACK: this process still holds the semaphore of closed client(s) %s; reopening its clients (%d)",
                  ", ".join(left), attempt + 1)
        reopen()
        left = stale()
    return left
