"""The JACK tests' xrun counter, in a process of its own: `python -m tests.bridge.live.jack.xrun_counter NAME`.

The count comes from a libjack callback that needs its process's GIL. In pytest's own process a test
thread can hold the GIL inside a JACK request (python-rtmidi keeps it while it closes a client); the
callback then waits for it, the server waits to hand the callback its notices, and the request waits
for the server: all three hang. Here the only other thread waits on stdin with the GIL released.
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
