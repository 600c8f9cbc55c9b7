"""The live daemon: ports at the edges, one engine thread in the middle.

The driver callback only stamps and enqueues (sideman.bridge.live.inbox). One thread — this module's
`run_forever` — owns the clock followers, the engines (the pure core, sideman.bridge.core.engine) and every
send. Stopping — by signal, DAW Stop, a port error, the caller — goes through `close()`, which
silences every note the bridge sent before the ports close and finalizes the recording.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

import mido
import numpy as np

from sideman.bridge.midi import (ALL_NOTES_OFF, ALL_SOUND_OFF, NOT_THRU, PEDAL_DOWN, PERCUSSION_CHANNEL, SONG_POSITION, SUSTAIN,
                                 TRANSPORT, channel_message_bytes, is_note_off, is_note_on, parse)
from sideman.bridge.core.clock import PEDAL, InternalClock, MidiClockFollower, Tick, Transport
from sideman.bridge.config import BridgeConfig, Config, ControlsConfig
from sideman.bridge.core.answer import Answerer
from sideman.bridge.core.follow import FollowClock
from sideman.bridge.core.metronome import Metronome
from sideman.bridge.core.engine import Engine, handled_before_tick
from sideman.bridge.live.ahead import AheadScheduler
from sideman.bridge.live.controls import control_table
from sideman.bridge.live.inbox import Inbox, Received
from sideman.bridge.live.learn import NEVER_LEARNT, Learner
from sideman.bridge.core.notes import NoteTracker
from sideman.bridge.live.ports import InputPort, OutputPort, SilencingOutput
from sideman.bridge.live.realtime import make_this_thread_realtime

log = logging.getLogger("sideman")

# In clock = "auto" or "follow", with no MIDI clock for this long while the DAW is stopped, Sideman's own clock takes over.
MIDI_CLOCK_TIMEOUT = 2.0
# Sideman's own clock in clock = "auto": following the player (docs/tempo-following.md measures both).
AUTO_OWN_CLOCK = "follow"
LATENCY_WINDOW = 4096  # engine.tick() durations kept for the status line's p50/p99


@dataclass
class LiveStats:
    received: int = 0
    sent: int = 0
    malformed: int = 0
    ticks: int = 0
    step: int = 0
    # Ring buffer of engine.tick() durations (s), preallocated: the hot path writes, never grows.
    tick_seconds: np.ndarray = field(default_factory=lambda: np.zeros(LATENCY_WINDOW))
    tick_count: int = 0

    def latency_us(self) -> tuple[float, float]:
        n = min(self.tick_count, LATENCY_WINDOW)
        if n == 0:
            return (0.0, 0.0)
        p50, p99 = np.percentile(self.tick_seconds[:n], [50, 99])
        return float(p50 * 1e6), float(p99 * 1e6)


def own_clock(bridge: BridgeConfig, steps_per_beat: int) -> InternalClock | FollowClock:
    """Sideman's own grid for a config: the fixed-tempo clock or the follower ("midi" keeps one for its
    status line only)."""
    kind = AUTO_OWN_CLOCK if bridge.clock == "auto" else bridge.clock
    if kind == "follow":
        return FollowClock(bridge.tempo, steps_per_beat, count_in_only=bridge.count_in)
    return InternalClock(bridge.tempo, steps_per_beat, steps_per_beat * bridge.beats_per_bar if bridge.count_in else 0)


class LiveBridge:
    """Input → (clock, controls, engine, thru) → output, on one engine thread."""

    def __init__(self, config: Config, inbox: Inbox, output: OutputPort, engines: Sequence[Engine] = (),
                 recorder=None, now: Callable[[], float] = time.perf_counter, *, input_port: InputPort | None = None,
                 on_cause: Callable[[Received | Tick], None] | None = None, learner: Learner | None = None,
                 answerer: Answerer | None = None) -> None:
        """`input_port` delivers into `inbox` (close() closes it first); `on_cause(event)`, for meters, is
        called with each received message before it is handled and each tick before it is answered;
        `learner`, while it runs a round, gets the control changes instead of the controls; `answerer`
        answers the player's phrases in [engine] mode = "answer" (sideman.bridge.core.answer)."""
        self.config = config
        self.inbox = inbox
        self.output = output if isinstance(output, SilencingOutput) else SilencingOutput(output)
        self.input = input_port
        self.on_cause = on_cause
        self.engines = list(engines)
        self.active = 0
        self.answerer = answerer
        self.recorder = recorder
        self.now = now
        self.stats = LiveStats()
        spb = self.engine.contract.steps_per_beat if self.engines else 4
        self.midi_clock = MidiClockFollower(spb, fallback_bpm=config.bridge.tempo)
        self.spb = spb
        self.internal = own_clock(config.bridge, spb)  # "internal": Sideman's own grid, fixed or following
        self.metronome = Metronome(config.bridge.click_channel - 1, config.bridge.click_note, config.bridge.metronome,
                                   config.bridge.count_in and isinstance(self.internal, InternalClock))
        self.clock_source = "midi" if config.bridge.clock == "midi" else "internal"
        self._last_midi_clock_t = -1e9
        self._last_input_t = 0.0
        self.input_notes = NoteTracker()  # what the musician holds (idle detection for the internal clock)
        self.hushed = False  # after panic or the player's All Notes Off: no part plays until the player does
        self.learner = learner
        self.use_controls(config.controls)
        self._stop = threading.Event()
        self._calls: deque[Callable[[], None]] = deque()  # run on the engine thread (call_soon)
        self._ahead = AheadScheduler()  # when the engine answers the coming step before its tick
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # close() may race the engine thread's last send
        self._closed = False
        self.fault: str | None = None
        self._ignored_programs: set[int] = set()  # Program Changes beyond the loaded models, logged once each
        self.failed: str | None = None  # why the engine thread died, if it did: the session must end with an error
        # How the engine thread is scheduled: "realtime priority N" or "ordinary (why)"; set by start().
        self.scheduling = "not started"
        self._scheduled = threading.Event()
        if answerer is not None:
            self.set_mode(config.engine.mode, 0.0)

    def use_controls(self, controls: ControlsConfig) -> None:
        """Answer the CC numbers of `controls` from now on (sideman.bridge.live.controls). Safe from any thread:
        the table is built whole, then swapped in at once."""
        self._cc_actions = control_table(self, controls)
        self.controls = controls

    @property
    def engine(self) -> Engine:
        return self.engines[self.active]

    @property
    def dropped(self) -> int:
        """Messages dropped on the way in (the inbox's overflow policy, a full relay pipe) and on the way out
        (a JACK server that ran no cycle: the output's StallGuard)."""
        return self.inbox.dropped + getattr(self.output.port, "dropped_in_stalls", 0)

    @property
    def beats_per_bar(self) -> int:
        return self.config.bridge.beats_per_bar

    # -- output ----------------------------------------------------------------------------------
    def _send_thru_bytes(self, raw: bytes, t: float) -> None:
        with self._lock:
            if self._closed:
                return
            self.output.send_bytes(raw)
            if self.recorder is not None:
                self.recorder.record_output(raw, t)
            self.stats.sent += 1

    def send(self, messages: Sequence[mido.Message] | None, t: float) -> None:
        """Send `messages` and record them at `t` (engine thread, or close())."""
        if not messages:
            return
        with self._lock:
            if self._closed:
                return
            for msg in messages:
                self.output.send(msg)
                if self.recorder is not None:
                    self.recorder.record_output(msg, t)
            self.stats.sent += len(messages)

    # -- engine thread ---------------------------------------------------------------------------
    def handle(self, received: Received) -> None:
        """Process one received message (engine thread)."""
        if self.on_cause is not None:
            self.on_cause(received)
        data, t = received
        self.stats.received += 1
        channel_message = bool(data) and 0x80 <= data[0] < 0xF0
        raw = channel_message_bytes(data) if channel_message else None
        if self.recorder is not None:
            self.recorder.record_input(data if raw is None else raw, t)  # bytes of bytes: no copy
        if data and data[0] in TRANSPORT:
            if len(data) == (3 if data[0] == SONG_POSITION else 1):
                self._on_transport_bytes(data, t)
            else:
                self._malformed(data)
            return
        if channel_message:
            if raw is None:
                self._malformed(data)
                return
            if not self._engine_needs(raw):
                # The fast path (most of a flood): nothing here can change the accompaniment, so no mido
                # message is built; the bytes go thru as they came. Same outcome as below, far cheaper.
                if raw[0] < 0xA0:  # a note on or off, on a channel not listened to: still "playing"
                    self._last_input_t = t
                if self.config.bridge.thru:
                    self._send_thru_bytes(raw, t)
                return
        msg = parse(data)
        if msg is None:
            self._malformed(data)
            return
        listening = self._listening_to(msg)  # once per message: the checks below all need it
        if listening:
            self._ahead.forget()  # the player may have changed the coming step's inputs
        if msg.type == "control_change" and listening:
            if self._learning() and msg.control not in NEVER_LEARNT:
                learnt = self.learner.feed(msg.channel, msg.control, msg.value, t)  # type: ignore[union-attr]
                if learnt is not None:
                    self.use_controls(learnt)
                return  # a control being learnt must not also do what it did before
            action = self._cc_actions.get(msg.control)  # one read: another thread may swap the table
            if action is not None:
                action(msg.value, t)
                return
        if msg.type == "control_change" and msg.control in (ALL_NOTES_OFF, ALL_SOUND_OFF) and listening:
            self.silence_all(t)  # and it goes on to thru below, for the player's own synth
        if msg.type == "program_change" and listening and len(self.engines) > 1:
            self._program_change(msg.program, t)
            return
        note_on = is_note_on(msg)
        if note_on or is_note_off(msg):
            self._last_input_t = t
            if listening:
                self.input_notes.record(msg)
                if note_on:
                    self.hushed = False
        if self.engines:
            self.send(self.engine.handle(msg, t), t)
            if self.answerer is not None and listening:
                self.send(self.answerer.hear(msg, t), t)  # the player plays again: an answer ends at once
            if listening and self.clock_source == "internal":
                # No DAW clock: Sideman's own grid hears the notes (the first one starts it, or the follower
                # listens for a count-in and the beat) and pedal presses (count-in taps).
                pedal = msg.type == "control_change" and msg.control == SUSTAIN and msg.value >= PEDAL_DOWN
                if note_on or pedal:
                    started = self.internal.hear(t, PEDAL if pedal else msg.note)
                    if started is not None:
                        self._transport(started)
        if self.config.bridge.thru and data[0] not in NOT_THRU:
            self.send((msg,), t)

    def _engine_needs(self, raw: bytes) -> bool:
        """Whether a valid channel message can matter beyond thru: notes, the sustain pedal, the controls
        and program changes on the channel Sideman listens to. (The engine ignores everything else.)"""
        channel = self.config.bridge.input_channel
        if channel:
            if (raw[0] & 0x0F) != channel - 1:
                return False
        elif (raw[0] & 0x0F) == PERCUSSION_CHANNEL:  # any channel but the drums' (_listening_to)
            return False
        kind = raw[0] & 0xF0
        if kind == 0x80 or kind == 0x90:
            return True
        if kind == 0xB0:
            return raw[1] in (SUSTAIN, ALL_NOTES_OFF, ALL_SOUND_OFF) or raw[1] in self._cc_actions or self._learning()
        return kind == 0xC0

    def _learning(self) -> bool:
        return self.learner is not None and self.learner.active

    def _listening_to(self, msg: mido.Message) -> bool:
        """The configured channel; 0 = any but the drum channel (a kit is never a tune; input_channel = 10 asks for it)."""
        channel = self.config.bridge.input_channel
        if channel == 0:
            return getattr(msg, "channel", None) != PERCUSSION_CHANNEL
        return getattr(msg, "channel", channel - 1) == channel - 1

    def _malformed(self, data: list[int]) -> None:
        self.stats.malformed += 1
        if self.stats.malformed == 1:
            log.warning("ignoring malformed MIDI bytes %s (further ones are counted, not logged)", bytes(d & 0xFF for d in data[:16]).hex(" "))

    def _on_transport_bytes(self, data: list[int], t: float) -> None:
        if self.config.bridge.clock == "internal":
            return
        self._last_midi_clock_t = t
        if self.clock_source != "midi":
            # A DAW started sending clock: it leads from now on.
            self.clock_source = "midi"
            if self.internal.running:
                self._transport(self.internal.stop(t))
        event = self.midi_clock.feed(data, t)
        if isinstance(event, Tick):
            self._on_tick(event)
        elif isinstance(event, Transport):
            self._transport(event)

    def _transport(self, event: Transport) -> None:
        self._ahead.forget()
        if self.recorder is not None:
            self.recorder.mark(event.kind, event.t, step=event.step)
        if not self.engines:
            return
        if event.kind in ("stop", "start", "seek"):
            self.send(self.engine.stop() + self.metronome.stop() + self._answer_stop(), event.t)  # Stop silences every part at once
        if event.kind in ("start", "seek"):
            self.engine.reset()  # a new place in the song: the model starts from there

    def _on_tick(self, tick: Tick) -> None:
        if self.on_cause is not None:
            self.on_cause(tick)
        self.stats.ticks += 1
        self.stats.step = tick.step
        if self.clock_source != "midi":  # the DAW has its own metronome
            self.send(self.metronome.tick(tick.step, self.spb, self.beats_per_bar), tick.t)
        if not self.engines or self.hushed or tick.step < 0:  # a negative step is the count-in: no parts yet
            return
        started = time.perf_counter()
        out = self.engine.tick(tick.step, tick.t, tick.step_seconds, self.beats_per_bar)
        self.stats.tick_seconds[self.stats.tick_count % LATENCY_WINDOW] = time.perf_counter() - started
        self.stats.tick_count += 1
        self.send(out, tick.t)
        if self.answerer is not None:
            self.send(self.answerer.tick(tick.step, tick.t, tick.step_seconds), tick.t)
        prepare = getattr(self.engine, "prepare_next_bar", None)
        if prepare is not None:  # work decided ahead runs after the tick's notes are out
            prepare()
        if self.engine.fault != self.fault:
            self.fault = self.engine.fault

    def _program_change(self, program: int, t: float) -> None:
        """Program Change N+1 (program N) plays model N+1; one beyond the loaded models changes nothing."""
        if program < len(self.engines):
            self._switch_model(program, t)
        elif program not in self._ignored_programs:
            self._ignored_programs.add(program)
            log.warning("ignoring Program Change %d: only %d models are loaded (Program Change 1..%d picks one)",
                        program + 1, len(self.engines), len(self.engines))

    def _switch_model(self, index: int, t: float) -> None:
        if index == self.active:
            return
        # The old model's notes end now; the new one answers from the next tick, in context from then on.
        self.send(self.engine.stop(), t)
        self.active = index
        self.engine.reset()
        if self.recorder is not None:
            self.recorder.mark("model", t, index=index)

    def set_mode(self, mode: str, t: float) -> None:
        """"answer": call and response, the parts silent; "accompany": the parts play, no answers."""
        if self.answerer is None:
            if mode == "answer":
                log.warning("answer mode needs the answer model, which is not loaded")
            return
        answer = mode == "answer"
        self.send(self.answerer.set_enabled(answer), t)
        for engine in self.engines:
            self.send(engine.set_enabled(not answer), t)

    def _answer_stop(self, forget: bool = False) -> list[mido.Message]:
        return self.answerer.stop(forget) if self.answerer is not None else []

    def silence_all(self, t: float) -> None:
        """Panic, or All Notes/Sound Off from the player: every note ends, every key and the pedal the bridge
        thinks are down are forgotten (a lost note-off must not keep a lead), and the parts stay silent, the
        internal clock stopped, until the player plays again."""
        self.input_notes = NoteTracker()
        if self.internal.running:
            self._transport(self.internal.stop(t))
        self.metronome.stop()  # its click ends with everything below
        if self.engines:
            self.send(self.engine.panic() + self._answer_stop(forget=True), t)
            self.engine.reset()  # the next note starts the accompaniment afresh
            self.hushed = True
        with self._lock:
            self.output.silence()

    # -- the loop --------------------------------------------------------------------------------
    def poll_clock(self, now: float) -> None:
        """Fire internal-clock ticks that are due; hand over between clocks in "auto" mode."""
        if self.internal.running:
            while (tick := self.internal.due(now)) is not None:
                self._on_tick(tick)
            idle_seconds = 2 * self.beats_per_bar * 60.0 / self.internal.bpm
            answering = self.answerer is not None and self.answerer.answering
            if not self.input_notes.held and now - self._last_input_t > idle_seconds and not answering:
                self._transport(self.internal.stop(now))  # the musician stopped playing two bars ago
        if self.clock_source == "midi" and now - self._last_midi_clock_t > MIDI_CLOCK_TIMEOUT:
            if self.midi_clock.running:
                # Playing, yet no clock for seconds: the DAW or the cable is gone. Stop rather than hang.
                self.midi_clock.running = False
                self._transport(Transport("stop", now, self.stats.step))
                log.warning("MIDI clock lost for %.0f s while playing: parts silenced", MIDI_CLOCK_TIMEOUT)
            if self.config.bridge.clock != "midi":
                self.clock_source = "internal"

    def _fire_internal_ticks_before(self, t: float) -> None:
        while self.internal.running and (next_tick := self.internal.next_tick_time()) is not None and not handled_before_tick(t, next_tick):
            self._on_tick(self.internal.due(next_tick))

    def run_forever(self) -> None:
        # Everything allocated so far lives for the whole session: keep the collector from walking it.
        gc.collect()
        gc.freeze()
        while not self._stop.is_set():
            timeout = 0.05
            next_tick = self.internal.next_tick_time()
            if next_tick is not None:
                timeout = min(timeout, max(0.0, next_tick - self.now()))
            prepare_in = self._ahead.wake_in(self, self.now())
            if prepare_in is not None:
                timeout = min(timeout, prepare_in)  # wake up to answer the coming step ahead
            received = self.inbox.get(timeout)
            while received is not None:
                # Internal-clock ticks due before this message was stamped go first: the engine must
                # see events in time order (a note just after a tick is late, not early).
                self._fire_internal_ticks_before(received.t)
                self.handle(received)
                received = self.inbox.get_nowait()
            self.poll_clock(self.now())
            while self._calls:
                self._calls.popleft()()
                self._ahead.forget()
            self._ahead.prepare(self, self.now())  # only when nothing waits in the inbox: idle time


    def call_soon(self, change: Callable[[], None]) -> None:
        """Run `change` on the engine thread at its next wake-up (within the loop's 50 ms). Safe from any thread."""
        self._calls.append(change)

    def set_tempo(self, bpm: float) -> None:
        """The internal clock's tempo from its next tick on (engine thread)."""
        self.internal.set_bpm(bpm)

    def switch_to(self, index: int) -> None:
        """Play engine `index` from the next tick on, as Program Change index + 1 would (engine thread)."""
        self._switch_model(index, self.now())

    def play_only(self, part_names: Sequence[str]) -> None:
        """Mute every part not named, unmute the named ones (engine thread)."""
        t = self.now()
        for k, name in enumerate(self.engine.contract.part_names):
            self.send(self.engine.set_muted(k, name not in part_names), t)

    def start(self, ordinary_because: str = "") -> None:
        """Start the engine thread, at the config's realtime priority unless `ordinary_because` says why it
        must stay an ordinary thread (sideman.bridge.live.realtime)."""
        # rtmidi's callback thread (ALSA/CoreMIDI input; JACK input is read by this thread from the
        # relay's pipe) needs the GIL for every message; with CPython's default 5 ms switch interval it
        # can wait that long behind this thread or the recorder's, and a flood then loses messages.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        self._thread = threading.Thread(target=self._run_guarded, args=(self.config.bridge.realtime_priority, ordinary_because),
                                        name="sideman-engine", daemon=True)
        self._thread.start()
        self._scheduled.wait(timeout=2.0)  # the thread sets its own priority first: report it with the ports

    def _run_guarded(self, priority: int = 0, ordinary_because: str = "") -> None:
        why_not = ordinary_because or make_this_thread_realtime(priority)  # only the thread itself can (pid 0 = this thread)
        self.scheduling = f"realtime priority {priority}" if why_not is None else f"ordinary ({why_not})"
        self._scheduled.set()
        try:
            self.run_forever()
        except Exception as exc:  # a bug, not a user error: stop; close() silences everything, the caller says why
            log.debug("the engine thread failed", exc_info=True)
            self.failed = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
            self.fault = "engine thread failed"
            self._stop.set()

    def request_stop(self) -> None:
        """Safe from any thread; not from a signal handler (an Event takes a lock: LiveSession.on_signal)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested; True if it was."""
        return self._stop.wait(timeout)

    def close(self):
        """Stop the engine thread, then silence, close the ports and finish the recording. Returns the recording path."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self.input is not None:
            self.input.close()
        # Drain what arrived before the input closed: a queued note-off must reach the books.
        while (received := self.inbox.get_nowait()) is not None:
            try:
                self.handle(received)
            except Exception:
                log.exception("while draining the input queue")
                break
        t = self.now()
        self.send(self.metronome.stop(), t)
        if self.engines:
            self.send(self.engine.stop() + self._answer_stop(), t)
        with self._lock:
            self._closed = True
            silence = self.output.finish()
            self.stats.sent += len(silence)
            if self.recorder is not None:
                for msg in silence:
                    self.recorder.record_output(msg, t)
        # The session is written before the port closes: closing may wait on a MIDI server that runs no cycle.
        recording = self.recorder.close() if self.recorder is not None else None
        self.output.close()
        return recording
