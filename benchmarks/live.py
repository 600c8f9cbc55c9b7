"""`python -m benchmarks.live`: the live bridge's latency, onset timing, loss and memory, through real JACK.

Prints one table with a PASS/MISS per target; asserts nothing. docs/benchmarks.md explains each row.

- The bridge is a real `LiveBridge` with real rtmidi JACK ports, opened by `sideman run`'s own session
  (sideman.bridge.live.session), in this process so it can be measured from outside: the bridge's
  `on_cause` hook tells a meter what caused the sends that follow (a clock tick, or an input message),
  and the output port stores `perf_counter() - cause time` in a preallocated array (one clock read, one store a send).
  The cause time is the driver callback's stamp: "event stamped -> handed to the driver".
  Thru is on, so thru sends are measured too; recording is on, into a temporary directory.
- A load client (benchmarks.clients, another process) sends the MIDI clock on its own port (to the
  bridge and to the DAW), a melody on channel 1 struck one pulse before each beat (the beat's tick
  takes it, nothing is re-answered: every part note is caused by a tick), and, in the flood phase, 2,000
  messages/s of notes, CC, aftertouch and pitch bend on channels 5-16: they go through the inbox,
  parsing, the engine's input, thru and the recorder, but are not the lead (a lead flood would
  make every step a re-answer: another test).
- A DAW client (another process, JACK's own `jack_midi_dump`) receives the clock and the bridge's
  output on ONE port and times each part note from the clock tick before it (every 6th pulse after
  Start, as the bridge counts) with JACK frame times (bench_clients.onset_delays). JACK delivers MIDI
  once per period, so that delay is a whole number of periods, at least one: "jitter beyond
  quantization" = p99 - p50 of the delay, minus one period (a send just before or just after a cycle
  boundary moves by a period by itself).
- Unless --jack-server names a running server, each period runs on a private JACK server
  (`jackd -n sideman-bench-PERIOD --no-realtime -d dummy -p PERIOD`), stopped afterwards; its log tells
  which clients made it miss a cycle (xruns).
- One hour of play simulated offline (benchmarks.hour).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.clients import (PrivateJack, connect, daw_worker, find_port, jack_tool, late_clients, load_worker,
                                  onset_delays)
from benchmarks.hour import Hour, flood_message_cost, hour_engine, hour_live, rss_mb
from sideman.bridge.errors import ModelError, PortError

TARGET_INTERNAL_P99_MS = 1.0
TARGET_JITTER_MS = 1.0
TARGET_GROWTH_MB_PER_HOUR = 10.0
REFERENCES = ("references: Wessel & Wright (2002): <= 10 ms latency and <= 1 ms jitter for playing; "
              "a DIN MIDI cable takes ~1 ms per 3-byte message (31,250 baud)")
PART_CHANNELS = (1, 2, 3)  # 0-based: the config's default part channels 2-4
TICK, INPUT = 0, 1


class SendMeter:
    """Preallocated record of (send time - cause time) and the cause, for every send."""

    def __init__(self, capacity: int) -> None:
        self.seconds = np.ones(capacity)  # ones, not zeros: the pages are touched now, not during the run
        self.kind = np.ones(capacity, np.int8)
        self.count = 0
        self.cause_t = 0.0
        self.cause = INPUT
        self.enabled = False

    def of(self, kind: int) -> np.ndarray:
        n = min(self.count, len(self.seconds))
        return self.seconds[:n][self.kind[:n] == kind]


class MeteredPort:
    """An output port that stores each send's delay since its cause in a SendMeter."""

    def __init__(self, port, meter: SendMeter) -> None:
        self.port = port
        self.name = port.name
        self.meter = meter

    def send(self, msg) -> None:
        self.port.send(msg)
        self._measure()

    def send_bytes(self, data: bytes) -> None:
        self.port.send_bytes(data)
        self._measure()

    def _measure(self) -> None:
        m = self.meter
        if m.enabled:
            i = m.count % len(m.seconds)
            m.seconds[i] = time.perf_counter() - m.cause_t
            m.kind[i] = m.cause
            m.count += 1

    def reopen(self) -> None:
        self.port.reopen()

    def guard_with(self, last_frame_time, channels) -> None:
        self.port.guard_with(last_frame_time, channels)

    def close(self) -> None:
        self.port.close()


class CauseMeter:
    """The bridge's `on_cause` hook: tells `meter` what caused the sends that follow, and counts the
    bridge's input by status byte."""

    def __init__(self, meter: SendMeter) -> None:
        self.meter = meter
        self.by_status = np.zeros(256, np.int64)

    def __call__(self, event) -> None:
        from sideman.bridge.live.inbox import Received

        m = self.meter
        if isinstance(event, Received):
            if event.data:
                self.by_status[event.data[0] & 0xFF] += 1
            m.cause_t, m.cause = event.t, INPUT
        else:  # a clock tick
            m.cause_t, m.cause = event.t, TICK


@dataclass
class Phase:
    name: str
    seconds: float
    tick: np.ndarray  # bridge-internal: tick stamp -> part send (s)
    thru: np.ndarray  # bridge-internal: input stamp -> its send (s)
    engine: np.ndarray  # engine.tick() alone (s)
    ahead: tuple[int, int]  # (ticks answered ahead by AheadEngine.prepare, ticks)
    onset: np.ndarray  # at the DAW: clock tick -> part note (s)
    sent: dict[str, int]
    received: dict[str, int]
    dropped: int
    daw_thru: dict[str, int]
    rss: tuple[float | None, float | None]
    late: dict[str, int] | None  # jackd: cycles each client was late for (private servers only)


@dataclass
class ServerRun:
    period_frames: int
    period_s: float
    tag: str
    phases: list[Phase] = field(default_factory=list)
    scheduling: str = ""  # the bridge's engine thread: LiveBridge.scheduling


def _received(by_status: np.ndarray) -> dict[str, int]:
    kinds = {"note_off": by_status[0x80:0x90].sum(), "clock": by_status[0xF8], "total": by_status.sum()}
    return {k: int(v) for k, v in kinds.items()}


def _log_size(path: Path | None) -> int:
    return path.stat().st_size if path is not None else 0


def _late_since(path: Path | None, offset: int) -> dict[str, int] | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        f.seek(offset)
        return late_clients(f.read().decode(errors="replace"))


def run_server(env: dict, args: argparse.Namespace, model: Path, workdir: Path, log: Path | None = None) -> ServerRun:
    """The idle and the flood phase on the JACK server `env` names."""
    from sideman.bridge.config import Config
    from sideman.bridge.engines import build_engines
    from sideman.bridge.live.loop import LATENCY_WINDOW
    from sideman.bridge.live.session import session

    frames = int(jack_tool(["jack_bufsize"], env).split()[0])
    rate = int(jack_tool(["jack_samplerate"], env).split()[0])
    tag = f"sideman-bench-{os.getpid()}"
    run = ServerRun(frames, frames / rate, tag)
    config = (Config().replace("bridge", clock="midi", thru=True, input_channel=1, tempo=args.tempo,
                               realtime_priority=args.realtime_priority)
              .replace("ports", api="jack", client_name=tag).replace("recording", directory=str(workdir / "sessions"))
              .replace("engine", style=args.style).replace("band", variation=args.band_variation))
    ctx = multiprocessing.get_context("spawn")
    load_conn, load_end = ctx.Pipe()
    daw_conn, daw_end = ctx.Pipe()
    procs = [ctx.Process(target=load_worker, args=(load_end, f"{tag}-clock", f"{tag}-load"), daemon=True),
             ctx.Process(target=daw_worker, args=(daw_end, f"{tag}-daw", PART_CHANNELS), daemon=True)]
    with ExitStack() as stack:
        stack.enter_context(_jack_server(env["JACK_DEFAULT_SERVER"]))
        engines = build_engines(config, [model])
        meter = SendMeter(int((args.flood_rate + 300) * max(args.flood_seconds, args.idle_seconds) * 1.2) + 10_000)
        causes = CauseMeter(meter)
        # JACK clients open one after another, each with no other client closing meanwhile (the DAW's
        # tool clients run once the load client is open): a client that closes while another opens can
        # leave that one waking a later client in only part of the cycles (sideman.bridge.live.jack.watch.stale_wakeups).
        # Each sending process checks and reopens; the bridge's session does it as `sideman run` does.
        # No stop signals: Ctrl-C interrupts the benchmark itself.
        live = stack.enter_context(session(config, engines, [model], wrap_output=lambda port: MeteredPort(port, meter),
                                           on_cause=causes, stop_signals=()))
        bridge, inbox = live.bridge, live.bridge.inbox
        if live.watch is None:  # it also guards the output against a stalled server
            raise PortError("cannot open a JACK client through libjack for the benchmark's watch")
        stack.callback(_stop_clients, procs, (load_conn, daw_conn))  # before the session closes
        for p, conn in zip(procs, (load_conn, daw_conn)):
            p.start()
            ready = conn.recv() if conn.poll(60) else "no answer in 60 s"
            if ready != "ready":
                raise PortError(f"a benchmark client did not start ({ready})")
        run.scheduling = bridge.scheduling
        sideman_in, sideman_out = find_port(env, tag, ":Sideman In"), find_port(env, tag, ":Sideman Out")
        clock, flood, daw = (find_port(env, f"{tag}-{name}:") for name in ("clock", "load", "daw"))
        for source, dest in ((clock, sideman_in), (flood, sideman_in), (clock, daw), (sideman_out, daw)):
            connect(env, source, dest)
        # A connection the server lists is live only some cycles later: a Start sent at once could reach
        # nobody (it did, now and then, in runs that began with the flood: every onset cell was n/a).
        time.sleep(0.25)
        for name, seconds, flood_rate in (("idle", args.idle_seconds, 0), ("flood", args.flood_seconds, args.flood_rate)):
            if seconds <= 0:
                continue
            gc.collect()
            rss0, log_at = rss_mb(), _log_size(log)
            status0, dropped0, ticks0 = causes.by_status.copy(), inbox.dropped, bridge.stats.tick_count
            ahead0 = getattr(bridge.engine, "prepared_count", 0)
            meter.count, meter.enabled = 0, True
            load_conn.send({"seconds": seconds, "rate": flood_rate, "bpm": args.tempo, "seed": len(run.phases)})
            if not load_conn.poll(seconds + 120):
                # It has hung twice, cause unknown (docs/benchmarks.md): leave its stacks for the next look.
                if procs[0].pid is not None and procs[0].is_alive():
                    os.kill(procs[0].pid, signal.SIGUSR1)
                    time.sleep(0.5)
                raise PortError("the load client stopped answering (its Python stacks, if it could print them, are above)")
            sent = load_conn.recv()
            _wait_drained(inbox)
            meter.enabled = False
            daw_conn.send("report")
            events, daw_counts = daw_conn.recv()
            ticks = np.arange(ticks0, bridge.stats.tick_count)[-LATENCY_WINDOW:] % LATENCY_WINDOW
            received = _received(causes.by_status - status0)
            daw_counts["clock"] = sum(1 for e in events if e[1] == 0xF8)
            # If neither side lost a pulse, the DAW can count the bridge's ticks; else onset_delays falls back.
            counted = received["clock"] == daw_counts["clock"] == sent.get("clock", 0)
            run.phases.append(Phase(name, seconds, meter.of(TICK), meter.of(INPUT), bridge.stats.tick_seconds[ticks].copy(),
                                    (getattr(bridge.engine, "prepared_count", 0) - ahead0, bridge.stats.tick_count - ticks0),
                                    onset_delays(events, counted, 60.0 / (args.tempo * 24)), sent, received,
                                    inbox.dropped - dropped0, daw_counts, (rss0, rss_mb()), _late_since(log, log_at)))
    return run


@contextmanager
def _jack_server(name: str):
    """JACK_DEFAULT_SERVER = `name` meanwhile: libjack reads it when a client opens."""
    saved = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = saved


def _stop_clients(procs, conns) -> None:
    for conn in conns:
        try:
            conn.send(None)
        except OSError:
            pass
    for p in procs:
        if p.pid is not None:
            p.join(10)
            if p.is_alive():
                p.terminate()


def _wait_drained(inbox, quiet: float = 0.5, timeout: float = 10.0) -> None:
    """Until the inbox is empty and JACK's last cycles have delivered."""
    deadline = time.monotonic() + timeout
    time.sleep(quiet)
    while len(inbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)


# -- the table ------------------------------------------------------------------------------------------

def _ms(values: np.ndarray) -> str:
    if len(values) == 0:
        return "n/a"
    p50, p99 = np.percentile(values, [50, 99]) * 1e3
    return f"{p50:.2f}/{p99:.2f}/{values.max() * 1e3:.2f}"


def _p99_ms(values: np.ndarray) -> float:
    return float(np.percentile(values, 99)) * 1e3 if len(values) else float("nan")


def jitter_beyond_period(onset: np.ndarray, period_s: float) -> float:
    """p99 - p50 of the onset delay, minus the one period the server's cycles add by themselves (s)."""
    if len(onset) == 0:
        return float("nan")
    p50, p99 = np.percentile(onset, [50, 99])
    return max(0.0, float(p99 - p50) - period_s)


def _in_periods(onset: np.ndarray, period_s: float) -> str:
    if len(onset) == 0:
        return "n/a"
    k = np.rint(onset / period_s)
    return "/".join(f"{share:.0%}" for share in (np.mean(k <= 1), np.mean(k == 2), np.mean(k >= 3)))


def _lost(phase: Phase, kind: str) -> int:
    return phase.sent.get(kind, 0) - phase.received.get(kind, 0)


def _late(run: ServerRun, phase: Phase) -> str:
    if phase.late is None:
        return "n/a"
    # The bridge's JACK clients: its output ("tag", "tag-01" if the name was taken) and its input relay ("tag-in").
    bridge = sum(n for client, n in phase.late.items() if client in (run.tag, f"{run.tag}-01", f"{run.tag}-in"))
    return f"{sum(phase.late.values())}/{bridge}"


def _late_by_client(run: ServerRun, phase: Phase) -> str:
    """The clients jackd named most often, with the benchmark's tag shortened to '~'."""
    if not phase.late:
        return "-" if phase.late is not None else "n/a"
    top = sorted(phase.late.items(), key=lambda kv: -kv[1])[:3]
    return " ".join(f"{name.replace(run.tag, '~')}:{n}" for name, n in top)


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def table(runs: list[ServerRun], hours: list[Hour], tempo: float) -> list[str]:
    """The one table: a column per (JACK period, phase), the offline hour below."""
    columns = [(run, phase) for run in runs for phase in run.phases]
    rows: list[tuple[str, list[str], str, str]] = []

    def row(label, cell, target="", ok=None):
        verdict = " ".join(_verdict(ok(r, p)) for r, p in columns) if ok else ""
        rows.append((label, [cell(r, p) for r, p in columns], target, verdict))

    within = f"p99 <= {TARGET_INTERNAL_P99_MS:g} ms"
    row("bridge: tick -> part send, ms", lambda r, p: _ms(p.tick), within, lambda r, p: _p99_ms(p.tick) <= TARGET_INTERNAL_P99_MS)
    row("bridge: input -> its thru send, ms", lambda r, p: _ms(p.thru), within, lambda r, p: _p99_ms(p.thru) <= TARGET_INTERNAL_P99_MS)
    row("  of which engine.tick() alone, ms", lambda r, p: _ms(p.engine))
    row("  steps answered ahead of their tick", lambda r, p: f"{p.ahead[0]:,} of {p.ahead[1]:,}")
    row("JACK: tick -> part note at the DAW, ms", lambda r, p: _ms(p.onset))
    row("  in periods: 1/2/3+ (share of notes)", lambda r, p: _in_periods(p.onset, r.period_s))
    # No part note timed (the DAW's client heard none: see the xruns rows) is no measurement: "-", not MISS.
    row("  jitter beyond one period, ms",
        lambda r, p: f"{jitter_beyond_period(p.onset, r.period_s) * 1e3:.2f}" if len(p.onset) else "n/a",
        f"<= {TARGET_JITTER_MS:g} ms",
        lambda r, p: jitter_beyond_period(p.onset, r.period_s) * 1e3 <= TARGET_JITTER_MS if len(p.onset) else None)
    row("  part notes timed", lambda r, p: f"{len(p.onset):,}")
    row("load sent: all/note-offs/clock", lambda r, p: f"{p.sent.get('total', 0):,}/{p.sent.get('note_off', 0):,}/{p.sent.get('clock', 0):,}")
    row("bridge got: all/note-offs/clock", lambda r, p: f"{p.received['total']:,}/{p.received['note_off']:,}/{p.received['clock']:,}")
    row("lost note-offs/clock", lambda r, p: f"{_lost(p, 'note_off')}/{_lost(p, 'clock')}", "0/0",
        lambda r, p: _lost(p, "note_off") == 0 and _lost(p, "clock") == 0)
    row("lost in all/dropped by the inbox", lambda r, p: f"{_lost(p, 'total')}/{p.dropped}")
    row("DAW got: thru'd note-offs/clock", lambda r, p: f"{p.daw_thru.get('note_off', 0):,}/{p.daw_thru.get('clock', 0):,}")
    row("JACK xruns: late clients/the bridge's", lambda r, p: _late(r, p))
    row("  most often late (~ = bench tag)", lambda r, p: _late_by_client(r, p))
    row("RSS start -> end, MB", lambda r, p: "n/a" if None in p.rss else f"{p.rss[0]:.1f} -> {p.rss[1]:.1f}")

    heads = [f"p{r.period_frames}={r.period_s * 1e3:.2f}ms {p.name} {p.seconds:g}s" for r, p in columns]
    label_w = max(len(r[0]) for r in rows) + 1
    cell_w = max([len(h) for h in heads] + [len(c) for r in rows for c in r[1]] + [0]) + 2
    lines = []
    if columns:
        lines.append(f"{'':{label_w}}" + "".join(f"{h:>{cell_w}}" for h in heads) + f"  {'target':<15} verdict")
        for label, cells, target, verdict in rows:
            lines.append(f"{label:<{label_w}}" + "".join(f"{c:>{cell_w}}" for c in cells) + f"  {target:<15} {verdict}".rstrip())
    for h in hours:
        hours_run = h.steps * 60.0 / (tempo * 4) / 3600.0
        growth = "n/a" if h.growth_mb is None else f"{h.growth_mb:+.1f} MB ({h.growth_mb_per_hour:+.1f} MB/h)"
        # Under half an hour, allocator noise extrapolated to an hour says nothing: shown, not judged.
        ok = None if h.growth_mb_per_hour is None or hours_run < 0.5 else h.growth_mb_per_hour < TARGET_GROWTH_MB_PER_HOUR
        lines.append(f"offline {h.steps:,} steps ({hours_run:.2g} h at {tempo:g} BPM), {h.name}: step cost median of the first/last "
                     f"{h.window:,} {h.start_us:.0f}/{h.end_us:.0f} us; memory {growth}  target < {TARGET_GROWTH_MB_PER_HOUR:g} MB/h  "
                     f"{_verdict(ok)}")
        if h.extra:
            lines.append(f"    {h.extra}")
    return lines


def add_bench_live_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--periods", default="64,256", help="JACK periods in frames at 48 kHz, each on a private JACK server (default 64,256)")
    parser.add_argument("--jack-server", metavar="NAME", help="use this running JACK server (e.g. default) instead; its own period only")
    parser.add_argument("--realtime", action="store_true", help="start the private JACK servers in realtime mode (jackd -R: needs rtprio rights)")
    parser.add_argument("--realtime-priority", type=int, default=None, metavar="N",
                        help="the bridge's engine thread: SCHED_FIFO priority, 0 = ordinary (default: the config's, 1)")
    parser.add_argument("--idle-seconds", type=float, default=None, help="clock + melody alone (default 30; 3 with --quick)")
    parser.add_argument("--flood-seconds", type=float, default=None, help="clock + melody + flood (default 60; 4 with --quick)")
    parser.add_argument("--flood-rate", type=int, default=2000, help="flood messages per second (default 2000)")
    parser.add_argument("--hour-steps", type=int, default=None, help="offline session length (default 28800 = 1 h at 120 BPM; 1200 with --quick)")
    parser.add_argument("--tempo", type=float, default=120.0, help="BPM of the clock (default 120)")
    parser.add_argument("--style", choices=("chorale", "band"), default="chorale",
                        help="the style the bridge plays live (band: bass and comping on channels 2-3; the offline hour stays chorale)")
    parser.add_argument("--band-variation", action="store_true", help="with --style band: the variation GAN proposes the bars")
    parser.add_argument("--no-jack", action="store_true", help="only the offline hour")
    parser.add_argument("--quick", action="store_true", help="a few seconds of each: a CI smoke run (figures are rough)")


def cmd_bench_live(args: argparse.Namespace) -> int:
    from sideman.bridge.engines import DEFAULT_MODEL

    quick = args.quick
    args.idle_seconds = args.idle_seconds if args.idle_seconds is not None else (3.0 if quick else 30.0)
    args.flood_seconds = args.flood_seconds if args.flood_seconds is not None else (4.0 if quick else 60.0)
    steps = args.hour_steps or (1200 if quick else 28_800)
    model = args.model or DEFAULT_MODEL
    from sideman.bridge.config import Config

    defaults = Config()
    if args.realtime_priority is None:
        args.realtime_priority = defaults.bridge.realtime_priority
    defaults.replace("bridge", realtime_priority=args.realtime_priority)  # its range check: one clear line, before any JACK
    if not model.is_file():
        raise ModelError(f"{model}: no such model file")
    try:
        periods = [int(p) for p in str(args.periods).split(",") if p.strip()]
    except ValueError:
        raise PortError(f"--periods {args.periods!r}: expected frame counts such as 64,256") from None

    def note(text: str) -> None:
        print(f"bench live: {text}", file=sys.stderr, flush=True)

    if not args.no_jack:
        missing = [tool for tool in ("jack_lsp", "jack_connect", "jack_bufsize", "jack_samplerate", "jack_midi_dump")
                   if shutil.which(tool) is None]
        if missing:
            raise PortError(f"`python -m benchmarks.live` needs JACK's command-line tools ({', '.join(missing)} not found); "
                            "install them with the JACK server (Debian: jackd2), or pass --no-jack")
    runs: list[ServerRun] = []
    with tempfile.TemporaryDirectory(prefix="sideman-bench-") as tmp:
        workdir = Path(tmp)
        if not args.no_jack and args.jack_server:
            note(f"JACK server {args.jack_server!r}: idle {args.idle_seconds:g} s, flood {args.flood_seconds:g} s")
            runs.append(run_server({**os.environ, "JACK_DEFAULT_SERVER": args.jack_server}, args, model, workdir))
        elif not args.no_jack:
            for period in periods:
                note(f"private JACK server ({'realtime' if args.realtime else 'not realtime'}), period {period}: "
                     f"idle {args.idle_seconds:g} s, flood {args.flood_seconds:g} s")
                server = PrivateJack(period, workdir, args.realtime)
                try:
                    runs.append(run_server(server.env, args, model, workdir, server.log_path))
                finally:
                    server.close()
        window = max(10, min(1000, steps // 10))
        note(f"offline: {steps:,} steps through Engine + OnnxStepModel")
        hours = [hour_engine(model, steps, args.tempo, window)]
        note(f"offline: {steps:,} steps through LiveBridge.handle/poll_clock with a recorder")
        hours.append(hour_live(model, steps, args.tempo, window, workdir))
        flood_cost = flood_message_cost(model, workdir)
    load = f"; load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    server = f"JACK server {args.jack_server!r}" if args.jack_server else f"private JACK servers ({'realtime' if args.realtime else 'not realtime'}, dummy backend)"
    engine_thread = "; engine thread " + ", ".join(sorted({r.scheduling for r in runs})) if runs else ""
    print(f"bench live: model {model.name}{' behind the band style' + (' with variation' if args.band_variation else '') if args.style == 'band' else ''}, {args.tempo:g} BPM, thru on, recording on, flood {args.flood_rate:,} msg/s "
          f"on channels 5-16; {server}{engine_thread}; {os.cpu_count()} CPUs{load}")
    print(REFERENCES)
    for line in table(runs, hours, args.tempo):
        print(line)
    print(f"offline LiveBridge.handle of one flood message (thru + recording; not the lead), us: p50 {flood_cost[0]:.1f}, "
          f"p99 {flood_cost[1]:.1f}")
    print("ms cells: p50/p99/max. Onsets: JACK frame times of the clock tick and of each part note at one DAW port; the server "
          "delivers once a period, so whole periods are its quantization, not the bridge's.")
    return 0


def main(argv: list[str] | None = None) -> int:
    from benchmarks import run_command

    return run_command("python -m benchmarks.live", add_bench_live_arguments, cmd_bench_live, argv)


if __name__ == "__main__":
    sys.exit(main())
