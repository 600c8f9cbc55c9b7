"""Realtime scheduling for the engine thread, where the system allows it (Linux).

Why: on a busy machine an ordinary thread that wakes for a MIDI message may wait for a CPU behind
whatever else runs (the recorder's writer, the DAW's GUI, a browser). A SCHED_FIFO thread runs as
soon as it wakes. `python -m benchmarks.live` (docs/benchmarks.md) measured the difference.

The priority stays below JACK's own threads (jackd's default -P 10 runs its clients at 5), so the
engine never delays a JACK cycle; it only outranks ordinary threads. The engine thread sleeps between
messages and works ~0.1-0.3 ms a tick, and the kernel keeps 5% of each second for ordinary threads
even if it spun. Children forked later do not inherit it (SCHED_RESET_ON_FORK).

Rights: root, or an rtprio limit (the `audio` group's `@audio - rtprio 95` in
/etc/security/limits.d, which JACK needs too). Without them the thread stays ordinary and says why.
"""

from __future__ import annotations

import os
import sys

# Under a JACK server that is not realtime its clients' process threads are ordinary threads: a
# realtime engine thread would outrank them, and while it computes a model step it held a CPU that
# one of them needed: the bridge's JACK output missed cycles and JACK re-read its stale buffer (the
# thru tests saw messages repeated). So the engine stays ordinary there.
JACK_NOT_REALTIME = "the JACK server is not realtime; the engine must not outrank its threads"


def ordinary_under_jack(server_realtime: bool | None) -> str:
    """Why the engine thread must stay ordinary under this JACK server; "" if it may be realtime."""
    if server_realtime is None:
        return "could not ask the JACK server whether it is realtime"
    return "" if server_realtime else JACK_NOT_REALTIME


def make_this_thread_realtime(priority: int) -> str | None:
    """Give the calling thread SCHED_FIFO at `priority`. None if it now has it, else why not (a short phrase)."""
    if priority <= 0:
        return "realtime_priority = 0 in the config"
    set_scheduler = getattr(os, "sched_setscheduler", None)
    if set_scheduler is None or not sys.platform.startswith("linux"):
        return "not supported on this system"
    policy = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
    try:
        set_scheduler(0, policy, os.sched_param(priority))  # pid 0: the calling thread (Linux)
    except PermissionError:
        return "no realtime rights (an rtprio limit, as JACK needs: see README)"
    except OSError as exc:
        return f"refused ({exc.strerror or exc})"
    return None

