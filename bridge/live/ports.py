"""MIDI ports behind one small interface: real python-rtmidi backends and an in-memory fake.

An input port calls `on_message(data, t)` from the driver's thread with the raw bytes and the
receive time (time.perf_counter() stamped in the callback: the one monotonic clock the bridge uses).
An output port sends mido messages and, when closed, silences every note it started.
Every port is a context manager that closes it; closing twice closes once.
Unknown port names are an error that lists what exists: never silently a new virtual port.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import time
from dataclasses import dataclass
from typing import Callable, Collection, Protocol

import mido
import rtmidi

from sideman.bridge.errors import PortError
from sideman.bridge.live.inbox import Inbox
from sideman.bridge.core.notes import NoteTracker
from sideman.bridge.live.port_base import Port
from sideman.bridge.live.port_names import _find_port, _quiet_c_stderr
from sideman.bridge.live.jack.stall_guard import StallGuard
from sideman.bridge.live.jack.names import output_ports_opened

OnMessage = Callable[[list[int], float], None]

log = logging.getLogger("sideman")

API_IDS = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "windows": rtmidi.API_WINDOWS_MM,
}
API_NAMES = {v: k for k, v in API_IDS.items()}

# How long to let the MIDI server deliver our last messages before a port closes. JACK drains
# rtmidi's ring buffer once per period (1.3 ms at 64 frames / 48 kHz; 21 ms at 1024 frames).
CLOSE_FLUSH_SECONDS = 0.05
# How long a guarded (JACK) output waits to see the server run a cycle before it closes: a server that
# runs none (stopped, hung) would keep the close, and with it the whole process, waiting for ever.
CLOSE_WAIT_SECONDS = 0.5

JACK_HINT = "start a JACK server first, e.g. `jackd --no-realtime -d dummy -r 48000 -p 64 &` (or load the ALSA sequencer: `modprobe snd-seq`)"


class InputPort(Protocol):
    name: str

    def close(self) -> None: ...


class OutputPort(Protocol):
    """`send_bytes(data)` is optional: SilencingOutput uses it, when a port has it, for thru."""

    name: str

    def send(self, msg: mido.Message) -> None: ...

    def close(self) -> None: ...


def _api_works(api: int) -> bool:
    if api not in rtmidi.get_compiled_api():
        return False
    with _quiet_c_stderr():
        try:
            probe = rtmidi.MidiOut(rtapi=api, name="Sideman probe")
        except rtmidi.SystemError:
            return False
        probe.delete()  # `del` alone leaves the JACK client in every cycle for the whole session
    return True


def resolve_api(name: str) -> int:
    """The rtmidi API id for a config name; 'auto' picks the platform's native API, then JACK."""
    if name != "auto":
        api = API_IDS[name]
        if api not in rtmidi.get_compiled_api():
            raise PortError(f"MIDI API {name!r} is not available in this python-rtmidi build (available: {', '.join(available_api_names())})")
        if not _api_works(api):
            hint = JACK_HINT if name in ("jack", "alsa") else "check that the MIDI system is running"
            raise PortError(f"MIDI API {name!r} cannot open: {hint}")
        return api
    if sys.platform == "darwin":
        candidates = [rtmidi.API_MACOSX_CORE, rtmidi.API_UNIX_JACK]
    elif sys.platform.startswith("win"):
        candidates = [rtmidi.API_WINDOWS_MM]
    else:
        candidates = [rtmidi.API_LINUX_ALSA, rtmidi.API_UNIX_JACK]
    for api in candidates:
        if _api_works(api):
            return api
    raise PortError(f"no MIDI system can open here: {'no ALSA sequencer (/dev/snd/seq) and no JACK server' if sys.platform.startswith('linux') else 'no MIDI API answered'}; {JACK_HINT}")


def available_api_names() -> list[str]:
    return [API_NAMES[a] for a in rtmidi.get_compiled_api() if a in API_NAMES]


@dataclass(frozen=True)
class PortListing:
    api: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def list_ports(api: int) -> PortListing:
    with _quiet_c_stderr():
        midi_in = rtmidi.MidiIn(rtapi=api, name="Sideman list")
        midi_out = rtmidi.MidiOut(rtapi=api, name="Sideman list")
    try:
        return PortListing(API_NAMES.get(api, str(api)), tuple(midi_in.get_ports()), tuple(midi_out.get_ports()))
    finally:
        midi_in.delete()
        midi_out.delete()


class RtMidiInput(Port):
    """A python-rtmidi input, virtual or connected to an existing port by name.

    The callback runs on the driver's thread: it only stamps the time and hands the bytes on.
    """

    def __init__(self, api: int, client_name: str, port_name: str, on_message: OnMessage, connect: str = "") -> None:
        with _quiet_c_stderr():
            try:
                self._midi = rtmidi.MidiIn(rtapi=api, name=client_name)
            except rtmidi.SystemError as exc:
                raise PortError(f"cannot open a MIDI input with {API_NAMES.get(api, api)}: {exc}; {JACK_HINT}") from None
        # Keep clock and song position (the DAW's transport); drop SysEx and active sensing at the driver.
        self._midi.ignore_types(sysex=True, timing=False, active_sense=True)
        if connect:
            index = _find_port(self._midi.get_ports(), connect, "input")
            self.name = self._midi.get_ports()[index]
            self._midi.open_port(index, port_name)
        else:
            if api == rtmidi.API_WINDOWS_MM:
                raise PortError("Windows has no virtual MIDI ports: create one with loopMIDI and pass --in 'loopMIDI Port'")
            self._midi.open_virtual_port(port_name)
            self.name = port_name
        perf_counter = time.perf_counter

        def callback(event: tuple[list[int], float], _data: object) -> None:
            on_message(event[0], perf_counter())

        self._midi.set_callback(callback)
        self._closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._midi.cancel_callback()
        self._midi.close_port()
        self._midi.delete()


def open_input(api: int, client_name: str, port_name: str, inbox: Inbox, connect: str = "",
               on_lost: Callable[[str], None] | None = None, own_output: str = "") -> InputPort:
    """The input port for `api`, delivering into `inbox`: for JACK through a relay process
    (bridge/live/jack/relay.py: JACK drops a cycle's MIDI when a client's process callback waits, and a
    Python callback waits for the GIL) that the inbox reads itself; for the others rtmidi's callback
    puts directly (their drivers queue, so a wait only delays).
    `on_lost(reason)`: the relay ended while in use (rtmidi's own inputs report nothing of the kind).
    `own_output`: the bridge's output port, never listened to (JACK: refused, or disconnected)."""
    if api == rtmidi.API_UNIX_JACK:
        from sideman.bridge.live.jack.names import relay_client
        from sideman.bridge.live.jack.relay import RelayedInput

        port = RelayedInput(relay_client(client_name), port_name, connect, on_lost, own_output)
        inbox.pull_from(port)
        return port
    return RtMidiInput(api, client_name, port_name, inbox.put, connect)


class RtMidiOutput(Port):
    """A python-rtmidi output, virtual or connected to an existing port by name."""

    def __init__(self, api: int, client_name: str, port_name: str, connect: str = "") -> None:
        self._args = (api, client_name, port_name, connect)
        self._guard: StallGuard | None = None
        self._open()

    def _open(self) -> None:
        api, client_name, port_name, connect = self._args
        with _quiet_c_stderr():
            try:
                self._midi = rtmidi.MidiOut(rtapi=api, name=client_name)
            except rtmidi.SystemError as exc:
                raise PortError(f"cannot open a MIDI output with {API_NAMES.get(api, api)}: {exc}; {JACK_HINT}") from None
        if connect:
            index = _find_port(self._midi.get_ports(), connect, "output")
            self.name = self._midi.get_ports()[index]
            self._midi.open_port(index, port_name)
        else:
            if api == rtmidi.API_WINDOWS_MM:
                raise PortError("Windows has no virtual MIDI ports: create one with loopMIDI and pass --out 'loopMIDI Port'")
            if api == rtmidi.API_UNIX_JACK:
                with output_ports_opened() as opened:  # JACK renames a taken client name: say the one in use
                    self._midi.open_virtual_port(port_name)
                ours = [name for name in opened if name.endswith(f":{port_name}")]
                self.name = ours[0] if len(ours) == 1 else port_name
            else:
                self._midi.open_virtual_port(port_name)
                self.name = port_name
        self._closed = False

    def reopen(self) -> None:
        """Close the client and open it again, same ports: before anything was sent (sideman.bridge.live.jack.watch.reopen_while_stale)."""
        self.close()
        self._open()

    def guard_with(self, last_frame_time: Callable[[], int], channels: Collection[int]) -> None:
        """JACK: never wait for room in rtmidi's buffer (sideman.bridge.live.jack.stall_guard); `last_frame_time` from a JackWatch,
        `channels` the NoteTracker's channels_used of the SilencingOutput around this port."""
        self._guard = StallGuard(last_frame_time, channels)

    @property
    def dropped_in_stalls(self) -> int:
        return self._guard.dropped if self._guard is not None else 0

    def send(self, msg: mido.Message) -> None:
        self.send_bytes(msg.bytes())

    def send_bytes(self, data: bytes | list[int]) -> None:
        guard = self._guard
        if guard is None:
            self._midi.send_message(data)
            return
        allowed = guard.allow(data)
        for owed in guard.owed():
            self._midi.send_message(owed)
        if allowed:
            self._midi.send_message(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        guard = self._guard
        if guard is not None and not guard.server_runs(within=CLOSE_WAIT_SECONDS):
            self._abandon()
            return
        self._midi.close_port()
        self._midi.delete()

    def _abandon(self) -> None:
        """Leave the port to the server (it removes a dead process's clients): closing it, now or in its
        destructor at exit, would wait for the server holding the GIL, so the object is never freed."""
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(self._midi))
        if self._guard is not None and not self._guard.server_gone:  # a server gone is reported where it is noticed
            log.warning("the JACK server runs no cycle: '%s' is left for it to remove when it runs again", self.name)


class SilencingOutput(Port):
    """Wraps an output: tracks the notes it sent and, on close, ends them all before closing.

    Closing sends a note-off for every note still sounding and All Notes Off on every channel used,
    waits for the MIDI server to deliver them, then closes the port underneath.
    """

    def __init__(self, port: OutputPort, flush_seconds: float = CLOSE_FLUSH_SECONDS) -> None:
        self.port = port
        self.name = port.name
        self.notes = NoteTracker()
        self._flush_seconds = flush_seconds
        self._finished = False
        self._closed = False
        # Thru's raw bytes: the port's own send_bytes if it has one (looked up once, not per message).
        self._send_bytes = getattr(port, "send_bytes", None) or (lambda data: port.send(mido.Message.from_bytes(data)))

    def send(self, msg: mido.Message) -> None:
        self.port.send(msg)
        self.notes.record(msg)

    def send_bytes(self, data: bytes) -> None:
        """Send one valid channel message given as raw bytes (thru, without building a mido message)."""
        self._send_bytes(data)
        self.notes.record_bytes(data)

    def silence(self) -> int:
        """Send the note-offs still owed; returns how many messages that took."""
        messages = self.notes.silence()
        for msg in messages:
            self.send(msg)
        return len(messages)

    def finish(self) -> list[mido.Message]:
        """Once: send what ends every note still sounding and give the server time to deliver it. Returns
        what was sent. (close() does it too; a caller that must act between the two calls this first.)"""
        if self._finished:
            return []
        self._finished = True
        messages = self.notes.silence()
        for msg in messages:
            self.send(msg)
        if messages and self._flush_seconds:
            time.sleep(self._flush_seconds)
        return messages

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.finish()
        finally:
            self.port.close()


class FakeOutput(Port):
    """In-memory output for tests: keeps every message sent."""

    def __init__(self, name: str = "Fake Out") -> None:
        self.name = name
        self.sent: list[mido.Message] = []
        self.closed = False

    def send(self, msg: mido.Message) -> None:
        if self.closed:
            raise PortError("send on a closed port")
        self.sent.append(msg)

    def close(self) -> None:
        self.closed = True
