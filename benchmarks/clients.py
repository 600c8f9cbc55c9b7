"""The other side of `python -m benchmarks.live`: a load client, a DAW client and a private JACK server.

Each client runs in its own process (started with multiprocessing "spawn"), so it never competes
with the bridge for the GIL, and neither runs Python in JACK's process thread: the load client only
sends (python-rtmidi writes a ring buffer), the DAW client is JACK's own `jack_midi_dump`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from sideman.bridge.errors import PortError

FLOOD_CHANNELS = tuple(range(4, 16))  # 0-based: channels 5-16, clear of the lead (1) and the parts (2-4)
MELODY = (72, 74, 76, 77, 79, 77, 76, 74, 72, 71, 72, 74)
JACK_RATE = 48000
_KINDS = {0x80: "note_off", 0x90: "note_on", 0xB0: "cc", 0xA0: "aftertouch", 0xD0: "aftertouch", 0xE0: "pitch_bend"}
_SYSTEM = {0xF8: "clock", 0xFA: "start", 0xFC: "stop"}


def flood_messages(n: int, seed: int = 0) -> list[list[int]]:
    """n raw messages, in blocks of 10: 2 note-on, 2 note-off (each ending a note-on of the block), 2 CC,
    2 pitch bend, 1 poly and 1 channel aftertouch, on channels 5-16 with random values; then the
    note-offs a block cut short still owes."""
    rng = np.random.default_rng(seed)
    out: list[list[int]] = []
    while len(out) < n:
        c1, c2 = (int(c) for c in rng.choice(FLOOD_CHANNELS, 2))
        n1, n2 = (int(x) for x in rng.integers(0, 128, 2))
        v = [int(x) for x in rng.integers(0, 128, 12)]
        out += [[0x90 | c1, n1, max(1, v[0])], [0xB0 | c2, v[1] % 120, v[2]], [0xE0 | c1, v[3], v[4]],
                [0xA0 | c1, n1, v[5]], [0x80 | c1, n1, v[6]], [0x90 | c2, n2, max(1, v[7])],
                [0xB0 | c1, v[8] % 120, v[9]], [0xE0 | c2, v[10], v[11]], [0xD0 | c2, v[1]], [0x80 | c2, n2, 0]]
    del out[n:]
    held: dict[tuple[int, int], int] = {}
    for m in out:
        key = (m[0] & 0x0F, m[1])
        if m[0] & 0xF0 == 0x90:
            held[key] = held.get(key, 0) + 1
        elif m[0] & 0xF0 == 0x80 and held.get(key):
            held[key] -= 1
    return out + [[0x80 | c, note, 0] for (c, note), k in held.items() for _ in range(k)]


def count_kind(counts: dict[str, int], data: list[int]) -> None:
    kind = _KINDS.get(data[0] & 0xF0) if data[0] < 0xF0 else _SYSTEM.get(data[0], "other")
    counts[kind or "other"] = counts.get(kind or "other", 0) + 1
    counts["total"] = counts.get("total", 0) + 1


def play(clock, flood, seconds: float, rate: int, bpm: float, seed: int) -> dict[str, int]:
    """Start, then the clock (on `clock`), a melody note on channel 1 one pulse before each beat and
    (rate > 0) the flood (on `flood`), all on one absolute schedule; then Stop. Returns what was sent."""
    pulse_s = 60.0 / (bpm * 24)
    n_pulses = int(seconds / pulse_s)
    msgs = flood_messages(int(rate * seconds), seed) if rate else []
    gap = 1.0 / rate if rate else 0.0
    counts: dict[str, int] = {}

    def send(port, data):
        port.send_message(data)
        count_kind(counts, data)

    send(clock, [0xFA])
    t0 = time.perf_counter() + pulse_s  # the first pulse (the downbeat) one pulse after Start
    i_pulse = i_flood = 0
    note = None
    while i_pulse < n_pulses or i_flood < len(msgs):
        now = time.perf_counter() - t0
        due = min(i_pulse * pulse_s if i_pulse < n_pulses else float("inf"), i_flood * gap if i_flood < len(msgs) else float("inf"))
        if due > now:
            time.sleep(due - now)
            continue
        if i_pulse < n_pulses and i_pulse * pulse_s <= now:
            send(clock, [0xF8])
            if i_pulse % 24 == 23:
                # One pulse (21 ms at 120 BPM) before the beat: inside the early window, so the beat's
                # tick takes it as the lead's onset, and handled before that tick, so nothing is
                # re-answered: every part note the bridge sends is caused by a tick. (Struck off the
                # beat instead, the model mostly holds its chords: few notes to time.)
                if note is not None:
                    send(flood, [0x80, note, 0])
                note = MELODY[(i_pulse // 24 + 1) % len(MELODY)]
                send(flood, [0x90, note, 90])
            i_pulse += 1
        while i_flood < len(msgs) and i_flood * gap <= now:
            send(flood, msgs[i_flood])
            i_flood += 1
    send(clock, [0xFC])
    if note is not None:
        send(flood, [0x80, note, 0])
    return counts


def load_worker(conn, clock_client: str, flood_client: str) -> None:
    """Process body: two JACK outputs, 'clock' and 'flood'; plays each job received until None.
    SIGUSR1 prints its threads' Python stacks to stderr (the benchmark sends it if the load client hangs)."""
    import faulthandler
    import signal

    import rtmidi

    from sideman.bridge.live.jack.watch import reopen_while_stale

    faulthandler.register(signal.SIGUSR1, all_threads=True)
    ports: list = []

    def open_ports() -> None:
        for port in ports:
            port.close_port()
            port.delete()
        ports[:] = [rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=client) for client in (clock_client, flood_client)]
        ports[0].open_virtual_port("clock")
        ports[1].open_virtual_port("flood")

    open_ports()
    # Both ports wake the bridge's relay and the clock wakes the DAW client: no stale semaphore here.
    left = reopen_while_stale(open_ports)
    conn.send(f"its JACK clients still hold closed clients' semaphores ({', '.join(left)})" if left else "ready")
    clock, flood = ports
    while (job := conn.recv()) is not None:
        conn.send(play(clock, flood, **job))
    for port in (clock, flood):
        port.close_port()
        port.delete()


def parse_dump_line(line: str) -> tuple[int, list[int]] | None:
    """One line of `jack_midi_dump` output ("FRAME: b0 b1 b2 ...") as (frame, bytes), or None."""
    stamp, _, rest = line.partition(":")
    data = []
    for word in rest.split():
        if len(word) != 2:
            break
        try:
            data.append(int(word, 16))
        except ValueError:
            break
    if not data or not stamp.strip().isdigit():
        return None
    return int(stamp), data


def daw_worker(conn, client: str, part_channels: tuple[int, ...]) -> None:
    """Process body: JACK's own `jack_midi_dump` (C) receives the clock and the bridge's output on one
    port, `client:input`; keeps (JACK time, status, data byte 2) of clock, Start, Stop and part notes,
    counts the rest (the thru'd input). On "report" sends (events, counts) and starts afresh; on None
    it ends. Not an rtmidi input: its Python callback would run in JACK's thread (late cycles), and
    python-rtmidi 1.5's polling queue is not thread-safe (a test segfaulted in get_message)."""
    import threading

    rate = int(jack_tool(["jack_samplerate"], dict(os.environ)).split()[0])
    dump = subprocess.Popen(["jack_midi_dump", "-a", client], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    parts = set(part_channels)
    lock = threading.Lock()
    state: dict = {"events": [], "counts": {}}

    def read() -> None:
        for line in dump.stdout:
            parsed = parse_dump_line(line)
            if parsed is None:
                continue
            stamp, data = parsed
            status = data[0]
            with lock:
                if status in (0xF8, 0xFA, 0xFC) or (status & 0xE0 == 0x80 and (status & 0x0F) in parts):
                    # Frames since jack_midi_dump started: the cycle's frame time plus the event's offset in it.
                    state["events"].append((stamp / rate, status, data[2] if len(data) > 2 else 0))
                else:
                    count_kind(state["counts"], data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10.0
    while f"{client}:input" not in jack_tool(["jack_lsp"], dict(os.environ)):
        if time.monotonic() > deadline or dump.poll() is not None:
            raise PortError("jack_midi_dump did not start")
        time.sleep(0.02)
    conn.send("ready")
    while conn.recv() == "report":
        with lock:
            conn.send((state["events"], state["counts"]))
            state["events"], state["counts"] = [], {}
    dump.terminate()
    dump.wait(timeout=10)
    reader.join(timeout=5)


def onset_delays(events: list[tuple[float, int, int]], counted: bool = True, pulse_s: float = 60.0 / (120 * 24)) -> np.ndarray:
    """Delay (s) of every part note-on/off after the clock tick before it, from Start to Stop.

    The bridge sends part notes only at its ticks: every 6th clock pulse it received after Start.
    `counted`: the bridge and the DAW received every pulse sent, so the tick is every 6th pulse the
    DAW counted. Otherwise the tick is taken to be the pulse just before the note, and a note more
    than half a pulse after it is left out (its own tick pulse never reached the DAW); a load client
    late with its clock can also put a later pulse in the note's cycle, making a delay look shorter.
    """
    delays, pulses, last_tick = [], None, None
    if not any(status == 0xFA for _, status, _ in events):
        # The DAW lost the Start itself (a late client's cycle, not realtime, in a flood): the count
        # of pulses since Start is unknown, so time each note from the pulse before it.
        counted, pulses = False, 0
    for jt, status, _ in events:
        if status == 0xFA:
            pulses, last_tick = 0, None
        elif status == 0xFC:
            pulses = None  # what follows Stop is the silencing, not tick-caused
        elif status == 0xF8:
            if pulses is not None:
                if not counted or pulses % 6 == 0:
                    last_tick = jt
                pulses += 1
        elif pulses is not None and last_tick is not None and (counted or jt - last_tick <= pulse_s / 2):
            delays.append(jt - last_tick)
    return np.array(delays)


# -- JACK plumbing (the command-line tools that come with every JACK) ---------------------------------

def jack_tool(args: list[str], env: dict) -> str:
    return subprocess.run(args, capture_output=True, text=True, env=env, check=True, timeout=20).stdout


def find_port(env: dict, *parts: str) -> str:
    for name in jack_tool(["jack_lsp"], env).splitlines():
        if all(p in name for p in parts):
            return name.strip()
    raise PortError(f"no JACK port named like {' '.join(parts)!r}")


def connect(env: dict, source: str, dest: str) -> None:
    """jack_connect, then wait until the server lists the connection (it is live a few cycles later)."""
    jack_tool(["jack_connect", source, dest], env)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        current = None
        for line in jack_tool(["jack_lsp", "-c"], env).splitlines():
            if not line.startswith(" "):
                current = line.strip()
            elif current == source and line.strip() == dest:
                time.sleep(0.05)
                return
        time.sleep(0.01)
    raise PortError(f"JACK never connected {source} to {dest}")


class PrivateJack:
    """A JACK server of our own (dummy backend), so the shared one and its period stay untouched."""

    def __init__(self, period: int, workdir: Path, realtime: bool = False) -> None:
        if shutil.which("jackd") is None:
            raise PortError("`python -m benchmarks.live` needs jackd (the JACK server) installed, or --jack-server NAME of a running one")
        # A fixed name, not a unique one: JACK's shm registry has 8 server slots, and the slot of a
        # server that died uncleanly is only reclaimed when a server of the same name starts again.
        self.name = f"sideman-bench-{period}"
        self.env = {**os.environ, "JACK_DEFAULT_SERVER": self.name}
        if subprocess.run(["jack_lsp"], capture_output=True, env=self.env).returncode == 0:
            raise PortError(f"a JACK server named {self.name} is already running (another `python -m benchmarks.live`?)")
        self.log_path = workdir / f"{self.name}.log"
        self._log = open(self.log_path, "wb")
        mode = ["--realtime"] if realtime else ["--no-realtime"]  # realtime: SCHED_FIFO for the server and its clients' threads
        self.proc = subprocess.Popen(["jackd", "-n", self.name, *mode, "-d", "dummy", "-r", str(JACK_RATE), "-p", str(period)],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10.0
        while subprocess.run(["jack_lsp"], capture_output=True, env=self.env).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise PortError(f"could not start a private JACK server: {self.log_path.read_text(errors='replace')[-300:]!r}")
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


_LATE = re.compile(r"client = (.+?) was not finished")


def late_clients(log_text: str) -> dict[str, int]:
    """From a jackd log: how many cycles each client was still running when the next one was due."""
    late: dict[str, int] = {}
    for name in _LATE.findall(log_text):
        late[name] = late.get(name, 0) + 1
    return late
