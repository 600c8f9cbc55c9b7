"""A JACK MIDI input port read through libjack itself (ctypes), for the input relay process.

RtMidi's JACK input assembles SysEx across events and never gives up on one: after a SysEx without its
F7 every later message vanished (bridge/live/jack/framing.py). So the relay reads JACK's events
itself: a process callback takes each cycle's events, frames them, and hands every message on with
one time stamp per cycle. It runs in JACK's thread, so it must never block (its caller's `on_message`
included).
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Callable

from sideman.bridge.errors import PortError
from sideman.bridge.live.jack.framing import SysexFramer
from sideman.bridge.live.jack.watch import _NO_START_SERVER, _libjack
from sideman.bridge.live.port_names import _find_port

MIDI_TYPE = b"8 bit raw midi"  # JACK_DEFAULT_MIDI_TYPE
PORT_IS_INPUT, PORT_IS_OUTPUT = 0x1, 0x2
_PROCESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p)
LOOP_CHECK_SECONDS = 0.5
_PORT_CONNECT = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int, ctypes.c_void_p)


class _MidiEvent(ctypes.Structure):
    _fields_ = [("time", ctypes.c_uint32), ("size", ctypes.c_size_t), ("buffer", ctypes.c_void_p)]


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    for name, restype, argtypes in (
        ("jack_get_client_name", ctypes.c_char_p, [ctypes.c_void_p]),
        ("jack_port_register", ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_ulong]),
        ("jack_port_name", ctypes.c_char_p, [ctypes.c_void_p]),
        ("jack_set_process_callback", ctypes.c_int, [ctypes.c_void_p, _PROCESS, ctypes.c_void_p]),
        ("jack_get_ports", ctypes.POINTER(ctypes.c_char_p), [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong]),
        ("jack_port_get_connections", ctypes.POINTER(ctypes.c_char_p), [ctypes.c_void_p]),
        ("jack_free", None, [ctypes.c_void_p]),
        ("jack_connect", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
        ("jack_disconnect", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
        ("jack_port_get_buffer", ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_uint32]),
        ("jack_midi_get_event_count", ctypes.c_uint32, [ctypes.c_void_p]),
        ("jack_midi_event_get", ctypes.c_int, [ctypes.POINTER(_MidiEvent), ctypes.c_void_p, ctypes.c_uint32]),
        ("jack_deactivate", ctypes.c_int, [ctypes.c_void_p]),
        ("jack_set_port_connect_callback", ctypes.c_int, [ctypes.c_void_p, _PORT_CONNECT, ctypes.c_void_p]),
    ):
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def _names(lib: ctypes.CDLL, array: ctypes.Array | None) -> list[str]:
    """A NULL-terminated array of port names from libjack, freed."""
    if not array:
        return []
    names = []
    i = 0
    while array[i]:
        names.append(array[i].decode("utf-8", "replace"))
        i += 1
    lib.jack_free(array)
    return names


def _thread_state_keeper() -> Callable[[], object]:
    """What the process callback calls once in JACK's thread to keep that thread's Python state for its life.

    ctypes enters Python from JACK's (non-Python) thread through PyGILState_Ensure, which, for a thread
    without a Python thread state, creates one, and deletes it again on release: every cycle. One extra
    Ensure that is never released keeps the state. (The callback holds the GIL, so this Ensure only
    counts up.) Made ready here, not in the callback: an import there blows the cycle, and JACK then
    delivers a late client's buffer again (duplicated and lost messages).
    """
    ensure = ctypes.pythonapi.PyGILState_Ensure
    ensure.restype = ctypes.c_int
    ensure.argtypes = []
    return ensure


class JackMidiInput:
    """One JACK MIDI input port (client `client_name`, port `port_name`), optionally connected to an
    output port whose name contains `connect`. `start(on_message)` delivers `on_message(data, t)`
    from JACK's thread, `t` = time.perf_counter() at the cycle.

    The bridge's own output (`own_output`) is never listened to: Sideman would hear itself, its parts
    becoming its melody (and with thru, every note again and again). Asked for with `connect`, that is
    a PortError; connected from outside while running, the connection is broken."""

    def __init__(self, client_name: str, port_name: str, connect: str = "", own_output: str = "") -> None:
        lib = _libjack()
        if lib is None:
            raise PortError("cannot open a JACK MIDI input: libjack not found")
        self._lib = _bind(lib)
        status = ctypes.c_int(0)
        self._client = lib.jack_client_open(client_name.encode(), _NO_START_SERVER, ctypes.byref(status))
        if not self._client:
            raise PortError(f"cannot open a JACK MIDI input client (status 0x{status.value:x}): is the JACK server running?")
        self._callback = self._connect_callback = None
        self._own_output = own_output
        self._connections_changed = threading.Event()
        self._lock = threading.Lock()  # _break_loops vs close: never a closed client's handle
        try:
            self._port = lib.jack_port_register(self._client, port_name.encode(), MIDI_TYPE, PORT_IS_INPUT, 0)
            if not self._port:
                raise PortError(f"JACK refused a MIDI input port named {port_name!r}")
            self.name = lib.jack_port_name(self._port).decode("utf-8", "replace")  # "client:port", as JACK named it
            self.source = ""
            if connect:
                sources = self.sources()
                self.source = sources[_find_port(sources, connect, "input")]
                if self.is_bridge_port(self.source):
                    raise PortError(f"{self.source!r} is Sideman's own output: listening to it, Sideman would hear itself; "
                                    "choose another input")
        except BaseException:
            self.close()
            raise

    def sources(self) -> list[str]:
        """Every JACK MIDI output port (what an input can listen to)."""
        return _names(self._lib, self._lib.jack_get_ports(self._client, None, MIDI_TYPE, PORT_IS_OUTPUT))

    def connections(self) -> list[str]:
        """The ports connected to this input now."""
        return _names(self._lib, self._lib.jack_port_get_connections(self._port))

    def is_bridge_port(self, name: str) -> bool:
        """Whether port `name` is the bridge's own output ("client:port"; a bare port name if the bridge
        could not tell its client's name, matching any client's port of that name)."""
        own = self._own_output
        return bool(own) and (name == own if ":" in own else name.split(":", 1)[-1] == own)

    def _break_loops(self, on_loop: Callable[[str], None]) -> None:
        """(A thread of its own: libjack's notification thread must not ask the server for anything.)"""
        while True:
            # Also every LOOP_CHECK_SECONDS: a connection may show only after its notice.
            self._connections_changed.wait(LOOP_CHECK_SECONDS)
            self._connections_changed.clear()
            with self._lock:
                if not self._client:
                    return
                for source in self.connections():
                    if self.is_bridge_port(source):
                        self._lib.jack_disconnect(self._client, source.encode(), self.name.encode())
                        on_loop(source)

    def start(self, on_message: Callable[[bytes, float], None], on_loop: Callable[[str], None] = lambda source: None) -> None:
        """Activate the client (and connect it, if asked); from now on `on_message` runs in JACK's thread, and
        `on_loop(source)` says that a connection from the bridge's own output was broken."""
        lib, port, framer = self._lib, self._port, SysexFramer()
        get_buffer, count, get_event = lib.jack_port_get_buffer, lib.jack_midi_get_event_count, lib.jack_midi_event_get
        event = _MidiEvent()
        event_ref, string_at, perf_counter, frame = ctypes.byref(event), ctypes.string_at, time.perf_counter, framer.messages
        keep_thread_state, kept = _thread_state_keeper(), []

        def process(nframes: int, _arg: object) -> int:
            if not kept:  # JACK runs one process thread per client
                keep_thread_state()
                kept.append(True)
            try:
                buffer = get_buffer(port, nframes)
                n = count(buffer)
                if n:
                    t = perf_counter()
                    for i in range(n):
                        if get_event(event_ref, buffer, i) == 0 and event.size:
                            for data in frame(string_at(event.buffer, event.size)):
                                on_message(data, t)
            except Exception:  # nothing may escape into JACK's thread (ctypes would print; stderr may block)
                pass
            return 0

        self._callback = _PROCESS(process)  # kept referenced: libjack holds a raw pointer
        self._connect_callback = _PORT_CONNECT(lambda a, b, connected, _arg: connected and self._connections_changed.set())
        lib.jack_set_port_connect_callback(self._client, self._connect_callback, None)
        self._connections_changed.set()  # a connection made before activation is looked at too
        threading.Thread(target=self._break_loops, args=(on_loop,), name="sideman-relay-loops", daemon=True).start()
        if lib.jack_set_process_callback(self._client, self._callback, None) != 0 or lib.jack_activate(self._client) != 0:
            raise PortError("JACK refused to activate the MIDI input client")
        if self.source and lib.jack_connect(self._client, self.source.encode(), self.name.encode()) not in (0, 17):  # 17: EEXIST
            raise PortError(f"JACK refused to connect {self.source!r} to {self.name!r}")

    def close(self) -> None:
        """Close the client. Blocks while the server runs no cycle: the relay ends its pipe first."""
        with self._lock:
            client, self._client = self._client, None
        self._connections_changed.set()  # ends _break_loops
        if client:
            self._lib.jack_deactivate(client)
            self._lib.jack_client_close(client)
