"""Finding a closed JACK client's semaphore this process still holds (sideman.bridge.live.jack.watch.stale_wakeups).

Without a JACK server: the /proc/self/maps parsing, on text and on a real deleted mapping, and the
reopen loop. With one: tests/test_jack_watch.py (what `sideman run` does about it).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from sideman.bridge.live.jack.watch import REOPEN_ATTEMPTS, reopen_while_stale, stale_wakeups

_MAPS = """\
7f1c2e000000-7f1c2e001000 rw-s 00000000 00:1a 118 /dev/shm/jack_sem.0_default_sideman-test-daw (deleted)
7f1c2e001000-7f1c2e002000 rw-s 00000000 00:1a 117 /dev/shm/jack_sem.0_default_Sideman
7f1c2e002000-7f1c2e003000 rw-s 00000000 00:1a 119 /dev/shm/jack-shm-registry
7f1c2e003000-7f1c2e004000 rw-s 00000000 00:1a 120 /dev/shm/jack_sem.0_default_jack_lsp (deleted)
7f1c2e004000-7f1c2e005000 rw-s 00000000 00:1a 120 /dev/shm/jack_sem.0_default_jack_lsp (deleted)
7f1c2e005000-7f1c2e006000 rw-p 00000000 00:1a 121 /tmp/notes (deleted)
"""


def test_stale_wakeups_names_only_deleted_jack_semaphores() -> None:
    assert stale_wakeups(_MAPS) == ["0_default_sideman-test-daw", "0_default_jack_lsp"]
    assert stale_wakeups(_MAPS.replace(" (deleted)", "")) == []


def test_stale_wakeups_reads_this_process_s_real_mappings(tmp_path) -> None:
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path
    path = shm / f"jack_sem.0_sideman-test_gone-{os.getpid()}"
    path.write_bytes(b"\0" * 12)
    try:
        with open(path, "r+b") as f, mmap.mmap(f.fileno(), 12):
            assert f"0_sideman-test_gone-{os.getpid()}" not in stale_wakeups()
            path.unlink()  # what the JACK server does when that client closes
            assert f"0_sideman-test_gone-{os.getpid()}" in stale_wakeups()
    finally:
        path.unlink(missing_ok=True)


def test_reopen_while_stale_reopens_until_clean_or_out_of_attempts() -> None:
    answers, reopened = [["gone"], ["gone"], []], []
    assert reopen_while_stale(lambda: reopened.append(1), stale=lambda: answers.pop(0)) == []
    assert len(reopened) == 2
    reopened.clear()
    assert reopen_while_stale(lambda: reopened.append(1), stale=lambda: ["gone"]) == ["gone"]
    assert len(reopened) == REOPEN_ATTEMPTS
    reopened.clear()
    assert reopen_while_stale(lambda: reopened.append(1), attempts=3, stale=lambda: ["gone"]) == ["gone"]
    assert len(reopened) == 3
    reopened.clear()
    assert reopen_while_stale(lambda: reopened.append(1), stale=lambda: []) == [] and not reopened

