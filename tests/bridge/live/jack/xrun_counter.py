"""The JACK tests' xrun counter, in a process of its own: `python -m tests.bridge.live.jack.xrun_counter NAME`.

Where the watch counts through a Python callback (a libc without unnamed semaphores), the callback needs
its process's GIL, and in pytest's own process a test thread can hold the GIL inside a JACK request
(python-rtmidi keeps it while it closes a client): the callback waits for it, the server waits to hand
the callback its notices, and the request waits for the server. Here nothing else holds the GIL.
Protocol: one line "ready" (or "unavailable"), then one line with the count for every line read.
"""

from __future__ import annotations

import sys

from sideman.bridge.live.jack.watch import JackWatch


def main(name: str) -> int:
    watch = JackWatch.open(name, lambda reason: None, count_xruns=True)
    if watch is None or not watch.counting_xruns:
        print("unavailable", flush=True)
        return 0
    print("ready", flush=True)
    try:
        for _ in sys.stdin:
            print(watch.xruns, flush=True)
    finally:
        watch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
