"""Assembling a live session from config: which recorder, which JACK watch.

Kept apart from the CLI so tests and the live benchmark build sessions exactly as `sideman run` does.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from sideman.bridge.config import Config
from sideman.bridge.core.engine import Engine

if TYPE_CHECKING:
    from sideman.bridge.live.jack.watch import JackWatch
    from sideman.bridge.live.loop import LiveBridge

log = logging.getLogger("sideman")


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


def open_jack_watch(bridge: LiveBridge, client_name: str, stale: Callable[[], list[str]] | None = None) -> JackWatch | None:
    """`sideman run`'s JACK watch (server loss, xruns), opened once the bridge's output is open.

    Then this process's JACK clients are all open, and if one of them caught a closed client's
    semaphore while opening (sideman.bridge.live.jack.watch.stale_wakeups: a JACK2 bug that leaves a later client
    listening to Sideman Out woken in only part of the cycles), the output and the watch are closed and
    opened again, before anything was sent. The input port lives in the relay process, which only
    receives (it wakes no other client), so it needs no such check. The output is then guarded against a
    server that stops running cycles (sideman.bridge.live.jack.stall_guard). Returns the watch, or None.
    """
    from sideman.bridge.live.jack.watch import REOPEN_ATTEMPTS, JackWatch, reopen_while_stale, stale_wakeups

    def open_watch() -> JackWatch | None:
        return JackWatch.open(f"{client_name} watch", lambda reason: bridge.request_stop(), count_xruns=True)

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
