"""`python -m benchmarks.listener`: per-step cost of the recogniser (`Recogniser.step`, features included)
and of the engine's default profile listener (`ProfileListener.step`: key tracker and chord templates).

Prints figures, never asserts them: p50 / p99 / max over N steps (default 5,000, after 500 warm-up
steps) of one continuous session on the demo melody played over and over with a chord under every
beat, and the same figures around steps 100 and 50,000 of one session (the state is a fixed set of
caches, so it must stay flat). 1 thread, as in the bridge.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from sideman.bridge.core.key_profiles import ProfileListener
from sideman.bridge.listen.features import frames
from sideman.bridge.listen.recogniser import DEFAULT_LISTENER, Recogniser
from sideman.bridge.offline.demo_melody import melody_notes


def session(n_steps: int) -> list[tuple[list[int], list[int], int]]:
    """(sounding, struck, step_in_beat) per step: the demo melody looped, a triad under each beat."""
    notes = [(round(start * 4), round((start + length) * 4), pitch) for start, length, pitch in melody_notes()]
    length = max(end for _, end, _ in notes)
    chords = [(b * 4, b * 4 + 4, p) for b in range(length // 4) for p in ((43, 47, 50), (48, 52, 55), (50, 54, 57))[b % 3]]
    steps = frames(notes + chords, length)
    return [(*steps[t % length], t % 4) for t in range(n_steps)]


def timed(listener: Recogniser | ProfileListener, steps: list[tuple[list[int], list[int], int]]) -> np.ndarray:
    out = np.empty(len(steps))
    for i, (sounding, struck, phase) in enumerate(steps):
        t0 = time.perf_counter_ns()
        listener.step(sounding, struck, phase)
        out[i] = (time.perf_counter_ns() - t0) / 1000
    return out


def describe(name: str, us: np.ndarray) -> str:
    return f"{name:34s} p50 {np.percentile(us, 50):6.1f} us  p99 {np.percentile(us, 99):6.1f} us  max {us.max():7.1f} us"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.listener")
    parser.add_argument("--model", type=Path, default=DEFAULT_LISTENER)
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args(argv)
    listener = Recogniser.load(args.model)
    print(f"{args.model.name}: {args.model.stat().st_size / 1024:.0f} KiB, receptive field "
          f"{listener.contract.receptive_field} steps, {len(listener.contract.state)} caches")
    steps = session(500 + args.steps)
    timed(listener, steps[:500])
    print(describe(f"step, {args.steps} steps", timed(listener, steps[500:])))
    listener.reset()
    long = session(50_100)
    early = timed(listener, long[:1100])[100:]
    timed(listener, long[1100:49_000])
    late = timed(listener, long[49_000:50_000])
    print(describe("steps 100-1,100 of a session", early))
    print(describe("steps 49,000-50,000 of it", late))
    profile = ProfileListener()
    timed(profile, steps[:500])
    print(describe(f"profile listener, {args.steps} steps", timed(profile, steps[500:])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
