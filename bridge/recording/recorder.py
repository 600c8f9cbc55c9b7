"""Session recording that never loses a session: a journal while playing, a MIDI file at the end.

The engine thread calls `record_input`, `record_output` and `mark`; each appends a tuple to a list
under a lock and returns — no formatting, no file I/O. One writer thread formats what piled up every
`flush_interval` seconds and appends it to the journal with `os.write` (so a crash or `kill -9` loses
only what was still in that list), fsyncing about once a second (so a power cut loses about a second).

The journal text is also kept in memory for the whole session (a few MB an hour): if the disk fails
(full, I/O error) nothing is lost — the problem is logged once, the writer keeps retrying, and
`close()` builds the MIDI file from memory, in the session directory, else the current directory,
else the temp directory. The journal file is always an exact prefix of the journal text (a short
write is resumed where it stopped), so it never has a damaged line in the middle.

Once the MIDI file is written, wherever it went, the journal is removed: that file holds every
event, and a journal left behind would make `sideman recover` write a second, partial copy. The
journal stays only when the MIDI file could be written nowhere. A session in which no note was
played or sent writes no MIDI file at all (`close()` returns None).

`sideman recover` turns journals left by a crash into MIDI files (see sideman.bridge.recording.journal for the format).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import logging
import os
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import mido

from sideman.bridge.errors import RecordingError
from sideman.bridge.recording.journal import (Conversion, MidiSummary, SessionInfo, build_midi, convert_journal, free_path, fsync_directory,
                            header_line, journal_to_midi, mark_line, midi_line, parse_journal, save_midi)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so `recover` cannot tell a live journal from a leftover one
    fcntl = None

__all__ = ["SessionInfo", "SessionRecorder", "journal_to_midi", "recover", "recover_journals", "session_directory",
           "add_recover_arguments", "cmd_recover"]

log = logging.getLogger("sideman")


def session_directory(directory: str | Path) -> Path:
    """The configured `recording.directory` as a path (`~` expanded)."""
    return Path(os.path.expanduser(str(directory)))


def _try_lock(fd: int) -> bool:
    """Take the journal's advisory lock; False only if another process holds it (a live session)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # e.g. ENOLCK on some network filesystems: record anyway, unlocked
        pass
    return True


def _stem(started_at: str) -> str:
    try:
        when = datetime.fromisoformat(started_at)
    except ValueError:
        when = datetime.now()
    return when.strftime("session-%Y%m%d-%H%M%S")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


class SessionRecorder:
    """Journals one live session and writes it as a MIDI file when closed."""

    def __init__(self, directory: str | Path, info: SessionInfo, flush_interval: float = 0.25,
                 fsync_interval: float = 1.0, close_timeout: float = 10.0) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive, not {flush_interval!r}")
        if not info.started_at:
            info = dataclasses.replace(info, started_at=datetime.now().astimezone().isoformat(timespec="seconds"))
        self.info = info
        self._directory = session_directory(directory)
        self._flush_interval = flush_interval
        self._fsync_interval = fsync_interval
        self._close_timeout = close_timeout
        self._journal_path, self._fd = self._create_journal(_stem(info.started_at))
        self._midi_path = self._journal_path.with_suffix(".mid")
        _try_lock(self._fd)

        self._lock = threading.Lock()  # guards _pending and _closed: the only lock the engine thread takes
        self._pending: list[tuple[str, float, Any]] = []
        self._closed = False
        self._encode_lock = threading.Lock()  # guards _data and _origin
        self._data = bytearray(self._write_header(header_line(info).encode()))  # the whole journal text
        self._origin: float | None = None
        self._write_lock = threading.Lock()  # guards the file and _written
        self._written = len(self._data)  # bytes of _data already in the journal file
        self._lines_written = 0
        self._write_errors = 0
        self._failing = False
        self._last_sync = time.monotonic()
        self._unencodable = 0
        self._result: Path | None = None
        self._finished = False
        self.summary: MidiSummary | None = None  # what close() put in the MIDI file
        self._cond = threading.Condition()
        self._requested = self._served = 0
        self._stopping = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="sideman-recorder", daemon=True)
        self._thread.start()

    def _create_journal(self, stem: str) -> tuple[Path, int]:
        hint = "set recording.directory in your config to a writable folder, or recording.enabled = false"
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(f"cannot record sessions in {self._directory}: {_reason(exc)} ({hint})") from None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_BINARY", 0)
        for n in range(1000):
            name = stem if n == 0 else f"{stem}-{n}"
            path = self._directory / f"{name}.journal"
            if path.with_suffix(".mid").exists():
                continue
            try:
                return path, os.open(path, flags, 0o644)
            except FileExistsError:
                continue
            except OSError as exc:
                raise RecordingError(f"cannot record sessions in {self._directory}: {_reason(exc)} ({hint})") from None
        raise RecordingError(f"cannot record sessions in {self._directory}: too many sessions named {stem}")

    def _write_header(self, header: bytes) -> bytes:
        """Write the first line now, on the caller's thread: a disk that fails already is reported before
        the session starts, as a RecordingError."""
        try:
            done = 0
            while done < len(header):
                n = os.write(self._fd, header[done:])
                if n <= 0:
                    raise OSError(errno.EIO, "write wrote nothing")
                done += n
            os.fsync(self._fd)
        except OSError as exc:
            os.close(self._fd)
            try:
                os.unlink(self._journal_path)
            except OSError:
                pass
            raise RecordingError(f"cannot record sessions in {self._directory}: cannot write {self._journal_path.name} "
                                 f"({_reason(exc)})") from None
        return header

    # -- the engine thread's side: append and return ----------------------------------------------
    def record_input(self, data: list[int] | bytes, t: float) -> None:
        """Bytes the musician played, stamped `t` (time.perf_counter seconds)."""
        try:
            raw = bytes(data)
        except (ValueError, TypeError):  # values outside 0..255: keep what a byte can hold
            raw = bytes(int(d) & 0xFF for d in data)
        with self._lock:
            if not self._closed:
                self._pending.append(("in", t, raw))

    def record_output(self, msg: mido.Message | bytes, t: float) -> None:
        """A message Sideman sent, or its raw bytes (kept by reference: sent messages are never mutated)."""
        with self._lock:
            if not self._closed:
                self._pending.append(("out", t, msg))

    def mark(self, kind: str, t: float, **fields: Any) -> None:
        """A transport or tempo mark: "start", "stop", "tempo" (bpm=...), "fault" (reason=...), ...

        `kind` must be a word (it comes from code, never from the musician); field values go in as JSON."""
        if not kind.isidentifier():
            raise ValueError(f"mark kind must be a word, not {kind!r}")
        with self._lock:
            if not self._closed:
                self._pending.append(("mark", t, (kind, fields)))

    # -- properties --------------------------------------------------------------------------------
    @property
    def journal_path(self) -> Path:
        return self._journal_path

    @property
    def midi_path(self) -> Path:
        """Where the MIDI file goes (after close(): where it went)."""
        return self._result or self._midi_path

    @property
    def lines_written(self) -> int:
        """Event lines safely in the journal file (written; fsynced at most ~1 s later)."""
        return self._lines_written

    @property
    def write_errors(self) -> int:
        return self._write_errors

    # -- the writer thread -------------------------------------------------------------------------
    def _encode_pending(self) -> None:
        with self._lock:
            items, self._pending = self._pending, []
        if not items:
            return
        with self._encode_lock:
            lines = []
            for kind, t, payload in items:
                if self._origin is None:
                    self._origin = t
                rel = t - self._origin
                try:
                    if kind == "mark":
                        lines.append(mark_line(rel, *payload))
                    else:
                        lines.append(midi_line(rel, kind, payload if isinstance(payload, bytes) else bytes(payload.bytes())))
                except Exception as exc:  # one odd message must not stop the recording
                    self._unencodable += 1
                    if self._unencodable == 1:
                        log.warning("session recorder: cannot journal %r (%s); skipping such events", payload, exc)
            self._data += "".join(lines).encode()

    def _write_chunk(self, data: bytes) -> int:
        """One write to the journal file (a seam for tests that simulate a failing disk)."""
        return os.write(self._fd, data)

    def _sync(self) -> None:
        os.fsync(self._fd)

    def _write_pass(self, sync: bool = False) -> None:
        """Append everything encoded but not yet written; on a disk error keep it for the next pass."""
        with self._write_lock:
            try:
                while True:
                    with self._encode_lock:
                        chunk = bytes(self._data[self._written:])
                    if not chunk:
                        break
                    n = self._write_chunk(chunk)
                    if n <= 0:
                        raise OSError(errno.EIO, "write wrote nothing")
                    self._written += n
                    self._lines_written += chunk[:n].count(b"\n")
                if sync or time.monotonic() - self._last_sync >= self._fsync_interval:
                    self._sync()
                    self._last_sync = time.monotonic()
            except OSError as exc:
                self._write_errors += 1
                if not self._failing:
                    log.warning("cannot write the session journal %s (%s): keeping the events in memory and retrying",
                                self._journal_path, _reason(exc))
                    self._failing = True
                return
        if self._failing:
            log.info("the session journal %s is being written again", self._journal_path)
            self._failing = False

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._requested > self._served, timeout=self._flush_interval)
                goal, stopping = self._requested, self._stopping
            try:
                self._encode_pending()
                self._write_pass(sync=stopping)
            except Exception:  # a bug: say so, but keep recording
                log.exception("session recorder: unexpected error in the journal writer")
            with self._cond:
                self._served = goal
                self._cond.notify_all()
            if stopping:
                return

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the writer has written everything recorded so far. True if it is all in the journal file."""
        with self._cond:
            if self._thread.is_alive() and not self._stopping:
                self._requested += 1
                goal = self._requested
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._served >= goal or not self._thread.is_alive(), timeout)
        with self._encode_lock:
            return self._written == len(self._data)

    # -- the end -----------------------------------------------------------------------------------
    def close(self) -> Path | None:
        """Stop recording, write the MIDI file, and remove the journal. Idempotent.

        Returns the MIDI file's path (a fallback directory's if the session directory failed), or None
        when no note was played or sent (no file then). Raises RecordingError only if the MIDI file
        could be written nowhere; the journal is then kept, for `sideman recover`.
        """
        with self._close_lock:
            if self._finished:
                return self._result
            with self._lock:
                self._closed = True
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._thread.join(self._close_timeout)
            stuck = self._thread.is_alive()
            if stuck:
                log.warning("the session journal writer is stuck on %s; writing the MIDI file from memory", self._journal_path)
            self._encode_pending()  # nothing left after a normal stop; whatever a stuck writer did not reach
            with self._encode_lock:
                text = bytes(self._data).decode("utf-8", errors="replace")
                complete = self._written == len(self._data)
            midi, self.summary = build_midi(parse_journal(text, str(self._journal_path)))
            if not self.summary.notes:
                self._remove_journal(close=not stuck)
                log.info("no notes were played in this session, so no session file was written")
                self._finished = True
                return None
            path = self._save_with_fallback(midi)
            # The file holds every event, the journal at most a prefix of them (less if the disk failed).
            self._remove_journal(close=not stuck)
            if not complete and not stuck:
                log.info("removed the incomplete session journal %s: %s holds every event", self._journal_path, path)
            self._result, self._finished = path, True
            return path

    def _save_midi(self, midi: mido.MidiFile, path: Path) -> None:
        save_midi(midi, path)  # a seam for tests that simulate a failing disk

    def _save_with_fallback(self, midi: mido.MidiFile) -> Path:
        candidates = [self._midi_path]
        for directory in (Path.cwd, lambda: Path(tempfile.gettempdir())):
            try:
                candidates.append(directory() / self._midi_path.name)
            except OSError:  # the current directory was deleted
                pass
        failures = []
        for i, path in enumerate(candidates):
            # The session's own name was reserved when it started; elsewhere, never overwrite.
            target = path if i == 0 else free_path(path)
            if i > 0 and target.parent.resolve() == self._directory.resolve():
                continue
            try:
                self._save_midi(midi, target)
            except OSError as exc:
                failures.append(f"{target.parent}: {_reason(exc)}")
                log.warning("cannot write the session MIDI file to %s (%s)", target, _reason(exc))
                continue
            if i > 0:
                log.warning("the session MIDI file was written to %s instead", target)
            return target
        raise RecordingError(f"cannot write the session MIDI file anywhere ({'; '.join(failures)}); "
                             f"the journal is kept at {self._journal_path}: try `sideman recover` later")

    def _remove_journal(self, close: bool) -> None:
        """Unlink the journal; close its file unless a stuck writer may still be writing to it."""
        if close and os.name == "nt":  # Windows cannot remove an open file; elsewhere keep the lock until it is gone
            os.close(self._fd)
        try:
            os.unlink(self._journal_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the session journal %s (%s): delete it, or `sideman recover` will make a "
                        "second copy of this session", self._journal_path, _reason(exc))
        if close and os.name != "nt":
            os.close(self._fd)
        fsync_directory(self._directory)

    def __enter__(self) -> "SessionRecorder":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- recover -------------------------------------------------------------------------------------------

def _recover_one(journal: Path, keep: bool) -> Conversion | None:
    """Convert one journal; None if a live session holds it. Removes it when clean unless `keep`."""
    try:
        fd = os.open(journal, os.O_RDONLY)
    except OSError as exc:
        raise RecordingError(f"cannot read {journal}: {_reason(exc)}") from None
    try:
        if not _try_lock(fd):
            return None
        conversion = convert_journal(journal)
        if not keep and not conversion.corrupt_lines:  # a damaged journal stays for a human to look at
            try:
                os.unlink(journal)
            except OSError as exc:
                log.warning("cannot remove %s (%s)", journal, _reason(exc))
        return conversion
    finally:
        os.close(fd)


def recover_journals(path: Path, keep: bool = False) -> tuple[list[Conversion], list[Path], list[str]]:
    """Convert a journal, or every *.journal in a directory. Returns (done, in use by a live session, failures)."""
    path = Path(path)
    if path.is_dir():
        journals = sorted(path.glob("*.journal"))
        if not journals:
            raise RecordingError(f"no session journals in {path}: nothing to recover")
    elif path.exists():
        journals = [path]
    else:
        raise RecordingError(f"{path}: no such file or directory")
    done, busy, failed = [], [], []
    for journal in journals:
        try:
            conversion = _recover_one(journal, keep)
        except RecordingError as exc:
            if len(journals) == 1:
                raise
            failed.append(str(exc))
            continue
        if conversion is None:
            busy.append(journal)
        else:
            done.append(conversion)
    return done, busy, failed


def recover(path: Path) -> list[Path]:
    """Turn a leftover journal, or every *.journal in a directory, into MIDI files; returns their paths.

    Journals of running sessions are left alone; one that cannot be converted is logged and skipped;
    one without a note becomes no file."""
    done, _, failed = recover_journals(path)
    for message in failed:
        log.warning("%s", message)
    return [c.midi for c in done if c.midi is not None]


def add_recover_arguments(parser: argparse.ArgumentParser) -> None:
    from sideman.bridge.config import CONFIG_FLAG_HELP

    parser.add_argument("path", nargs="?", help="a .journal file or a folder of them (default: recording.directory from the config)")
    parser.add_argument("--config", metavar="PATH", help=CONFIG_FLAG_HELP)
    parser.add_argument("--keep", action="store_true", help="keep the journals after writing their MIDI files")


def cmd_recover(args: argparse.Namespace) -> int:
    from sideman.bridge.config import load_config

    if args.path:
        path = session_directory(args.path)
    else:
        path = session_directory(load_config(args.config).recording.directory)
        if not path.exists():
            raise RecordingError(f"no session directory at {path}: nothing to recover")
    done, busy, failed = recover_journals(path, keep=args.keep)
    for conversion in done:
        print(conversion.describe() + ("; journal kept" if conversion.journal.exists() else ""))
    for journal in busy:
        print(f"{journal}: in use by a running sideman session, left alone")
    for message in failed:
        print(f"sideman: error: {message}", file=sys.stderr)
    if not done and busy and not failed:
        raise RecordingError(f"nothing to recover in {path}: its journals belong to running sessions")
    return 2 if failed else 0
