"""One live session, as `sideman run` runs it: a context manager that opens everything in order and,
however the session ends (a signal, a lost server or relay, an error, an exception), stops the bridge,
silences and closes the ports, writes the recording, and puts the signal handlers back.
While it runs, the main thread prints what the learner has to say and saves the maps it learns, and
a terminal reader hands it the lines typed (`l` starts learning the controls).

Kept apart from the CLI so tests and the live benchmark run sessions exactly as `sideman run` does.
"""

from __future__ import annotations

import datetime as _dt
import logging
import signal
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from sideman.bridge.config import Config, ControlsConfig, save_user_section, section_values
from sideman.bridge.core.engine import Engine
from sideman.bridge.engines import build_answerer
from sideman.bridge.errors import ConfigError, EngineError, PortError
from sideman.bridge.live.inbox import Inbox
from sideman.bridge.live.learn import Learner, controls_text
from sideman.bridge.live.loop import LiveBridge
from sideman.bridge.live.ports import API_IDS, API_NAMES, OutputPort, RtMidiOutput, SilencingOutput, open_input, resolve_api
from sideman.bridge.live.realtime import ordinary_under_jack

if TYPE_CHECKING:
    from sideman.bridge.live.jack.watch import JackWatch

log = logging.getLogger("sideman")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())
LEARN = ("l", "learn")  # the line that starts learning the controls
# How often the main thread passes on what the learner says: often enough to feel like an answer.
NOTICE_SECONDS = 0.1


def open_recorder(config: Config, engines: Sequence[Engine], paths: Sequence[Path]):
    """A SessionRecorder for this session, or None when recording is off. RecordingError if the directory is unusable."""
    if not config.recording.enabled:
        return None
    from sideman.bridge.recording.recorder import SessionInfo, SessionRecorder

    contract = engines[0].contract if engines else None
    info = SessionInfo(
        tempo_bpm=config.bridge.tempo,
        beats_per_bar=config.bridge.beats_per_bar,
        part_names=tuple(p.name for p in contract.parts) if contract else (),
        part_channels=tuple(engines[0].settings.part_channels) if engines else (),
        model=", ".join(str(p) for p in paths),
        started_at=_dt.datetime.now().isoformat(timespec="seconds"),
    )
    return SessionRecorder(Path(config.recording.directory).expanduser(), info)


class LiveSession:
    """A running session: its bridge and JACK watch, what to tell the musician, and how it ended."""

    def __init__(self, config: Config, api: int, paths: Sequence[Path], started: float,
                 part_names: Sequence[str] = ()) -> None:
        self.config = config
        self.learner = Learner(part_names)
        self.api = api
        self.paths = list(paths)
        self.started = started
        self.opened = started
        self.bridge: LiveBridge | None = None
        self.watch: JackWatch | None = None
        self.jack_realtime: bool | None = None  # whether the JACK server ran realtime, asked while the watch was open
        self.recording: Path | None = None  # the session's MIDI file, once the session has ended
        self.saved_controls: Path | None = None  # where the last learnt map was saved
        self.out = sys.stdout
        self._redraws = False  # whether the status line redraws itself in place: lines go above it
        self._stop_requested = False

    def request_stop(self, *_: object) -> None:
        """From any thread but from a signal handler (see on_signal): stop the session."""
        self._stop_requested = True
        if self.bridge is not None:
            self.bridge.request_stop()

    def on_signal(self, *_: object) -> None:
        """The stop signals' handler: sets a flag only, which `run` acts on within NOTICE_SECONDS. A handler runs
        in the main thread between two bytecodes, possibly while that thread holds the lock of the event it
        waits on, so it must take no lock (setting that event from here deadlocked)."""
        self._stop_requested = True

    def attach(self, bridge: LiveBridge) -> LiveBridge:
        """The session's bridge, told of any stop requested before it existed (an input relay that ended)."""
        self.bridge = bridge
        if self._stop_requested:
            bridge.request_stop()
        return bridge

    def banner(self, version: str, controls_from: str = "defaults", keys: bool = False) -> str:
        """The lines `sideman run` (Sideman `version`) prints once the session runs; `controls_from`: where
        the CC map comes from (sideman.bridge.live.learn.sources_text); `keys`: whether lines typed are read."""
        bridge, bridge_config = self.bridge, self.config.bridge
        models = ", ".join(path.name for path in self.paths) or "none (thru only)"
        if bridge.engines and self.config.engine.style == "band":
            models = f"the band style first (Program Change 1), then {models}"
        lines = [f"Sideman {version}: listening on '{bridge.input.name}', playing on '{bridge.output.name}' "
                 f"({API_NAMES[self.api]}; model {models}; clock {bridge_config.clock}; thru {'on' if bridge_config.thru else 'off'}); "
                 f"engine thread {bridge.scheduling}; ports open after {(self.opened - self.started) * 1000:.0f} ms. Ctrl-C to stop."]
        lines.append(f"Controls: {controls_text(bridge.controls, self.learner.part_names)} ({controls_from})"
                     + ("; l and Enter learns them." if keys else "."))
        if bridge.answerer is not None and bridge.answerer.enabled:
            lines.append(f"Answer mode: pause after a phrase and Sideman answers it on channel {bridge.answerer.settings.channel + 1}.")
        if bridge.recorder is not None:
            lines.append(f"Recording this session to {bridge.recorder.journal_path}")
        return "\n".join(lines)

    def run(self, learn: bool = False, keys: bool = False) -> None:
        """Until a stop is requested, with the status line unless [status] quiet. `learn`: start by learning
        the controls; `keys`: read lines typed on stdin (l learns, and answers the learner)."""
        status = reader = None
        if not self.config.status.quiet:
            from sideman.bridge.live.status import StatusLine

            watch = self.watch
            status = StatusLine(self.bridge, stream=self.out, xruns=(lambda: watch.xruns) if watch is not None else None)
            status.start()
        self._redraws = status is not None and status.tty
        try:
            if keys:
                from sideman.bridge.live.terminal import TerminalReader

                reader = TerminalReader(self.on_line)
                reader.start()
            if learn:
                self.learner.start(self.bridge.controls)
            while not self.bridge.wait(timeout=NOTICE_SECONDS) and not self._stop_requested:
                self.pass_on()
            self.bridge.request_stop()
        finally:
            self.learner.end()  # stopping mid-round keeps what was learnt
            self.pass_on()
            if reader is not None:
                reader.stop()
            if status is not None:
                status.stop()

    def on_line(self, line: str) -> None:
        """A line typed in the terminal (the reader's thread): an answer to the learner while it asks, else a command."""
        if self.learner.active:
            learnt = self.learner.answer(line)
            if learnt is not None:
                self.bridge.use_controls(learnt)
        elif line.strip().lower() in LEARN:
            self.learner.start(self.bridge.controls)
        elif line.strip() and self.bridge is not None:
            from sideman.bridge.live.typed import typed_line

            change, said = typed_line(line, self.bridge)
            if change is not None:
                self.bridge.call_soon(change)
            self.learner.notices.put(said)

    def pass_on(self) -> None:
        """Print what the learner said and save each map it learnt to the user's config file (main thread)."""
        while not self.learner.notices.empty():
            self.say(self.learner.notices.get())
        while not self.learner.finished.empty():
            self.save_controls(self.learner.finished.get())

    def save_controls(self, controls: ControlsConfig) -> None:
        try:
            self.saved_controls = save_user_section("controls", section_values(controls))
        except ConfigError as exc:
            self.say(f"sideman: the learnt controls are in use but were not saved: {exc}")
            return
        self.say(f"Controls saved to {self.saved_controls}: in use now, and read at every start.")

    def say(self, line: str) -> None:
        """One line for the musician, above the status line when it redraws itself."""
        self.out.write(("\r\x1b[2K" if self._redraws else "") + line + "\n")
        self.out.flush()

    def farewell(self) -> str:
        """The lines `sideman run` prints once the session has ended."""
        bridge, watch = self.bridge, self.watch
        lines = [f"Sideman stopped: {bridge.stats.received} messages in, {bridge.stats.sent} out, "
                 f"{bridge.dropped} dropped, {bridge.stats.malformed} malformed."]
        if self.recording is not None:
            lines.append(f"Session saved: {self.recording}")
        if watch is not None and watch.xruns:
            advice = "A larger JACK period or a less busy machine helps." if self.jack_realtime else "Run JACK realtime (jackd -R)."
            lines.append(f"The JACK server reported {watch.xruns} xrun(s): cycles where some client finished late, when JACK "
                         f"may drop or repeat MIDI. {advice}")
        return "\n".join(lines)

    def raise_if_lost(self) -> None:
        """PortError if the session ended because the JACK server or the input relay went away; EngineError
        if the engine thread failed."""
        if self.bridge.failed is not None:
            raise EngineError(f"the engine thread failed ({self.bridge.failed}): every note was ended and the session "
                              "stopped; `sideman -v run` shows where")
        if self.watch is not None and self.watch.lost is not None:
            raise PortError(f"the JACK server stopped while Sideman was running ({self.watch.lost}); start it again, then `sideman run`")
        lost_input = getattr(self.bridge.input, "lost", None)
        if lost_input is not None:
            raise PortError(f"the MIDI input relay process stopped while Sideman was running ({lost_input}); "
                            "nothing came in after that; run `sideman run` again")


@contextmanager
def session(config: Config, engines: Sequence[Engine], paths: Sequence[Path], *, started: float | None = None,
            wrap_output: Callable[[RtMidiOutput], OutputPort] | None = None, on_cause: Callable | None = None,
            stop_signals: Sequence[int] = STOP_SIGNALS) -> Iterator[LiveSession]:
    """Open the output, the input, the recorder and (JACK) the server watch, in that order; stop on
    `stop_signals`; start the bridge; yield the running session.

    `started`: when the command started (perf_counter), for the banner's "ports open after";
    `wrap_output` and `on_cause`: a meter's hooks around the output port and in the bridge (benchmarks.live).
    """
    started = time.perf_counter() if started is None else started
    api = resolve_api(config.ports.api)
    jack = api == API_IDS["jack"]
    p = config.ports
    if jack:
        from sideman.bridge.live.jack.names import check_client_name

        check_client_name(p.client_name)
    live = LiveSession(config, api, paths, started, tuple(p.name for p in engines[0].contract.parts) if engines else ())
    # Before any port opens: a bad model or channel fails here.
    answerer = build_answerer(config, [c for e in engines for c in e.settings.part_channels]) if engines else None
    inbox = Inbox(config.bridge.queue_capacity)
    # Each port closes on its way out even if the bridge never does (closing twice closes once).
    with ExitStack() as ports:
        port = ports.enter_context(RtMidiOutput(api, p.client_name, p.output_name, p.connect_output))
        output = ports.enter_context(SilencingOutput(wrap_output(port) if wrap_output else port))
        input_port = ports.enter_context(open_input(api, p.client_name, p.input_name, inbox, p.connect_input,
                                                    on_lost=live.request_stop, own_output=port.name))
        # The recording opens only once both ports are open: a port error must leave neither an
        # empty session file nor a stray journal behind (nothing has been recorded yet).
        recorder = open_recorder(config, engines, paths)
        bridge = live.attach(LiveBridge(config, inbox, output, engines, recorder, input_port=input_port, on_cause=on_cause,
                                        learner=live.learner, answerer=answerer))
        handlers: dict[int, object] = {}
        try:
            if jack:
                # rtmidi reports nothing when the JACK server stops; without this the bridge would run on, deaf and mute.
                live.watch = open_jack_watch(bridge, p.client_name)
            for sig in stop_signals:
                handlers[sig] = signal.signal(sig, live.on_signal)
            live.jack_realtime = None if live.watch is None else live.watch.server_realtime
            bridge.start(ordinary_because=ordinary_under_jack(live.jack_realtime) if jack else "")
            live.opened = time.perf_counter()
            yield live
        finally:
            # The handlers stay until everything is closed: a second Ctrl-C must not cut the silencing short.
            try:
                live.recording = bridge.close()
            finally:
                if live.watch is not None:
                    live.watch.close()  # after the bridge: its last note-offs go through the watch's stall guard
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)


def open_jack_watch(bridge: LiveBridge, client_name: str, stale: Callable[[], list[str]] | None = None) -> JackWatch | None:
    """`sideman run`'s JACK watch (server loss, xruns), opened once the bridge's output is open.

    Then this process's JACK clients are all open, and if one of them caught a closed client's
    semaphore while opening (sideman.bridge.live.jack.watch.stale_wakeups: a JACK2 bug that leaves a later client
    listening to Sideman Out woken in only part of the cycles), the output and the watch are closed and
    opened again, before anything was sent. The input port lives in the relay process, which only
    receives (it wakes no other client), so it needs no such check. The output is then guarded against a
    server that stops running cycles (sideman.bridge.live.jack.stall_guard). Returns the watch, or None.
    """
    from sideman.bridge.live.jack.names import watch_client
    from sideman.bridge.live.jack.watch import REOPEN_ATTEMPTS, JackWatch, reopen_while_stale, stale_wakeups

    def open_watch() -> JackWatch | None:
        return JackWatch.open(watch_client(client_name), lambda reason: bridge.request_stop(), count_xruns=True)

    watch = open_watch()

    def reopen() -> None:
        nonlocal watch
        if watch is not None:
            watch.close()
        bridge.output.port.reopen()
        watch = open_watch()

    left = reopen_while_stale(reopen, stale=stale or stale_wakeups)
    if watch is not None:
        # Sends must never wait on a server that runs no cycle (sideman.bridge.live.jack.stall_guard): the watch sees its cycles.
        bridge.output.port.guard_with(watch.last_frame_time, bridge.output.notes.channels_used)
    if left:
        log.warning("JACK: this process still holds the semaphore of closed client(s) %s after reopening %d times: "
                    "a client that starts later and listens to Sideman Out may miss MIDI (a JACK2 bug; restart "
                    "Sideman if one does)", ", ".join(left), REOPEN_ATTEMPTS)
    return watch
