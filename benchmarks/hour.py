"""One hour of play, simulated offline at full speed, for `python -m benchmarks.live`.

A fake clock (times computed, never read) drives first the Engine + OnnxStepModel alone, then the
live hot path itself: LiveBridge.handle / poll_clock fed MIDI clock bytes (24 a beat), a melody and a
real SessionRecorder — what the engine thread does in a session, minus the waiting. Reports the
median step cost over the first and the last window of steps, and resident memory growth per hour.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.clients import MELODY, flood_messages


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory from /proc/PID/status (Linux), in MB; None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


@dataclass(frozen=True)
class Hour:
    name: str
    steps: int
    window: int
    start_us: float  # median step cost over the first `window` steps
    end_us: float  # ... and over the last
    growth_mb: float | None  # RSS growth from the end of the first window to the end
    growth_mb_per_hour: float | None
    extra: str = ""


class CountingOutput:
    """A fake output that keeps nothing (sideman.bridge.live.ports.FakeOutput keeps every message: a leak, for tests)."""

    name = "counting"

    def __init__(self) -> None:
        self.sent = 0

    def send(self, msg) -> None:
        self.sent += 1

    def send_bytes(self, data: bytes) -> None:  # as RtMidiOutput has: the thru fast path
        self.sent += 1

    def close(self) -> None:
        pass


def counting_output():
    """A CountingOutput that silences on close as every bridge output does, without the wait for a MIDI server."""
    from sideman.bridge.live.ports import SilencingOutput

    return SilencingOutput(CountingOutput(), flush_seconds=0.0)


def _hour(name: str, cost_ns: np.ndarray, window: int, rss0: float | None, rss1: float | None, bpm: float, extra: str = "") -> Hour:
    steps = len(cost_ns)
    growth = None if rss0 is None or rss1 is None else rss1 - rss0
    hours = (steps - window) * 60.0 / (bpm * 4) / 3600.0
    per_hour = None if growth is None or hours <= 0 else growth / hours
    return Hour(name, steps, window, float(np.median(cost_ns[:window])) / 1e3, float(np.median(cost_ns[-window:])) / 1e3,
                growth, per_hour, extra)


def hour_engine(model: Path, steps: int, bpm: float, window: int) -> Hour:
    """Engine + OnnxStepModel: a melody note on every beat, a tick every 16th."""
    import mido

    from sideman.bridge.config import Config
    from sideman.bridge.engines import build_engines

    engine = build_engines(Config(), [model])[0]
    step_s = 60.0 / (bpm * 4)
    cost = np.ones(steps)  # ones, not zeros: its pages are touched before memory is first measured
    ons = [mido.Message("note_on", note=p, velocity=90) for p in MELODY]
    offs = [mido.Message("note_off", note=p) for p in MELODY]
    clock = time.perf_counter_ns
    rss0 = None
    for i in range(steps):
        t = i * step_s
        if i == window:
            gc.collect()
            rss0 = rss_mb()  # after the first window: the runtime's arenas and caches are in place
        if i % 4 == 0:
            k = (i // 4) % len(MELODY)
            engine.handle(offs[k - 1], t)
            engine.handle(ons[k], t)
        start = clock()
        engine.tick(i, t, step_s, 4)
        cost[i] = clock() - start
    gc.collect()
    return _hour("Engine + OnnxStepModel", cost, window, rss0, rss_mb(), bpm)


def hour_live(model: Path, steps: int, bpm: float, window: int, workdir: Path) -> Hour:
    """LiveBridge.handle + poll_clock for every clock pulse, a melody note each beat, recording on."""
    from sideman.bridge.config import Config
    from sideman.bridge.live.inbox import Inbox, Received
    from sideman.bridge.live.loop import LiveBridge
    from sideman.bridge.engines import build_engines
    from sideman.bridge.live.session import open_recorder

    config = Config().replace("bridge", clock="midi", tempo=bpm).replace("recording", directory=str(workdir / "hour"))
    engines = build_engines(config, [model])
    recorder = open_recorder(config, engines, [model])
    bridge = LiveBridge(config, Inbox(config.bridge.queue_capacity), counting_output(), engines, recorder, now=lambda: 0.0)
    pulse_s = 60.0 / (bpm * 24)
    cost = np.ones(steps)
    clock = time.perf_counter_ns
    bridge.handle(Received([0xFA], 0.0))
    rss0 = None
    for k in range(steps * 6):
        t = (k + 1) * pulse_s
        if k % 24 == 0:
            beat = k // 24
            bridge.handle(Received([0x80, MELODY[(beat - 1) % len(MELODY)], 0], t))
            bridge.handle(Received([0x90, MELODY[beat % len(MELODY)], 90], t))
        if k == window * 6:
            gc.collect()
            rss0 = rss_mb()
        start = clock()
        bridge.handle(Received([0xF8], t))
        bridge.poll_clock(t)
        if k % 6 == 0:  # the pulse that is a tick: the step's whole cost
            cost[k // 6] = clock() - start
    gc.collect()
    rss1 = rss_mb()
    recorder.flush()
    journal_mb = recorder.journal_path.stat().st_size / 1e6
    started = time.perf_counter()
    saved = Path(bridge.close())
    close_s = time.perf_counter() - started
    extra = (f"its journal: {journal_mb:.1f} MB (also kept in memory); closing wrote {saved.stat().st_size / 1e3:.0f} kB "
             f"of MIDI in {close_s:.1f} s")
    return _hour("LiveBridge.handle/poll_clock + recorder", cost, window, rss0, rss1, bpm, extra)


def flood_message_cost(model: Path, workdir: Path, n: int = 20_000) -> tuple[float, float]:
    """p50 and p99 (us) of LiveBridge.handle for one message of the benchmark's flood (channels 5-16,
    listening on 1, thru and recording on), offline: the engine thread's own cost per flood message."""
    from sideman.bridge.config import Config
    from sideman.bridge.live.inbox import Inbox, Received
    from sideman.bridge.live.loop import LiveBridge
    from sideman.bridge.engines import build_engines
    from sideman.bridge.live.session import open_recorder

    config = (Config().replace("bridge", clock="midi", thru=True, input_channel=1)
              .replace("recording", directory=str(workdir / "flood-cost")))
    engines = build_engines(config, [model])
    bridge = LiveBridge(config, Inbox(config.bridge.queue_capacity), counting_output(), engines,
                        open_recorder(config, engines, [model]), now=lambda: 0.0)
    messages = flood_messages(n, seed=1)
    cost = np.ones(n)
    clock = time.perf_counter_ns
    for i, data in enumerate(messages):
        received = Received(data, i * 0.0005)
        start = clock()
        bridge.handle(received)
        cost[i] = clock() - start
    bridge.close()
    p50, p99 = np.percentile(cost, [50, 99]) / 1e3
    return float(p50), float(p99)
