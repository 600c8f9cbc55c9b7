"""How well Sideman follows a player without a DAW: beat tracking and accompaniment on folk-tune performances.

Every Nottingham melody of a split (../shared/data/polyphonic; `valid` to choose the follower's gains,
`test` to report) is played as a performance: a quarter-note tempo drawn from 80-120 BPM (the tracker
expects 100, the [bridge] tempo default), a ramp of +-10% over the tune (direction drawn), onsets
displaced by N(0, 20 ms), and 10% of the notes dropped, each in its own condition. The reference
beats are the tune's quarter notes (the beat of Sideman's 16th grid; a 6/8 tune has three a bar, so its
8ths fall on the grid) from the beat of the first note to the beat of the last.

Beat trackers, each hearing only the note-ons:
- follow: sideman.bridge.core.follow.FollowClock, causal, the beats it ticked (what the parts play on);
- fixed: Sideman's internal clock started on the first note at the first bar's true tempo (the best a
  fixed clock can do: the player set --tempo exactly), and at the default 100 BPM;
- pretty_midi: `PrettyMIDI.estimate_tempo()` over the whole file (not causal), beats from the first note.

Scores (mean over tunes): beat F-measure (+-70 ms), CMLt and AMLt (mir_eval, after its usual trimming of
the first 5 s), F over the whole tune (untrimmed: the follower's listening before it starts counts), and
tempo accuracy (share of reference beats where the tracker's beat interval is within 4% of the true one).
With --accompany N, the first N tunes (evenly spread) are accompanied by the shipped model through
`render` (the live core in simulated time) with the file's tempo grid (a DAW clock: the truth), with
the follower (`sideman accompany --follow`) and with the fixed clocks: the share of part onsets within
30 ms of the true 16th grid.

    python3 -m benchmarks.beat_tracking --split test --accompany 30     # the tables in docs/tempo-following.md
    python3 -m benchmarks.beat_tracking --split valid --sweep           # choose FollowGains on valid tunes

Needs the dev extras' mir_eval and pretty_midi (pip install 'sideman[dev]').
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import itertools
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import mido
import numpy as np

from sideman.bridge.core.follow import FollowClock, FollowGains, run_clock
from sideman.bridge.offline.midi_input import TempoMap

TICKS_PER_BEAT = 960
STEPS_PER_BEAT = 4
PRIOR_BPM = 100.0
BPM_RANGE = (80.0, 120.0)
WINDOW = 0.030  # a part onset this close to the true grid is on time
TEMPO_TOLERANCE = 0.04


@dataclass(frozen=True)
class Condition:
    name: str
    ramp: float  # tempo change over the tune (share), direction drawn per tune
    jitter: float  # onset sigma (s)
    drop: float  # share of notes left out


CONDITIONS = (
    Condition("steady, jitter 20 ms", 0.0, 0.020, 0.0),
    Condition("ramp +-10%, jitter 20 ms", 0.10, 0.020, 0.0),
    Condition("ramp +-10%, jitter 20 ms, 10% dropped", 0.10, 0.020, 0.10),
)


@dataclass(frozen=True)
class Performance:
    name: str
    heard: list[tuple[float, int]]  # (onset s, key), time order
    beats: np.ndarray  # reference beat times (s)
    grid: np.ndarray  # the true 16th grid over the tune (s)
    first_bpm: float
    midi: mido.MidiFile  # the performance, its tempo map the true one
    compound: bool  # a 6/8 tune (its felt beat, the dotted quarter, is not the grid's)


def _notes(tune) -> list[tuple[int, int, int]]:
    """(start step, end step, pitch) of the tune's melody."""
    starts = np.flatnonzero(tune.onset)
    notes = []
    for s in starts:
        e = s + 1
        while e < tune.n_steps and not tune.onset[e] and tune.pitch[e] == tune.pitch[s]:
            e += 1
        notes.append((int(s), int(e), int(tune.pitch[s])))
    return notes


def perform(tune, cond: Condition, rng: np.random.Generator) -> Performance:
    """The tune played with the condition's tempo ramp, jitter and drops (see the module docstring)."""
    notes = _notes(tune)
    first_beat = notes[0][0] // STEPS_PER_BEAT
    last_beat = notes[-1][0] // STEPS_PER_BEAT
    n = last_beat - first_beat + 2  # one beat past the last onset's, for its notes' ends
    base = rng.uniform(*BPM_RANGE)
    direction = rng.choice((-1.0, 1.0))
    bpms = base * (1.0 + direction * cond.ramp * np.arange(n) / max(n - 1, 1))
    # File beat 0 is one beat of lead-in; file beat j + 1 is the tune's beat first_beat + j.
    tempos = [mido.bpm2tempo(bpms[0])] + [mido.bpm2tempo(b) for b in bpms]
    tmap = TempoMap(TICKS_PER_BEAT, [(j * TICKS_PER_BEAT, tempo) for j, tempo in enumerate(tempos)])

    def seconds(step: float) -> float:
        return tmap.seconds((step / STEPS_PER_BEAT - first_beat + 1) * TICKS_PER_BEAT)

    kept = [nt for i, nt in enumerate(notes) if i == 0 or rng.random() >= cond.drop]
    onsets = [max(0.0, seconds(s) + rng.normal(0.0, cond.jitter)) for s, _, _ in kept]
    events = []
    for i, ((s, e, pitch), on) in enumerate(zip(kept, onsets)):
        end = seconds(e) + rng.normal(0.0, cond.jitter)
        if i + 1 < len(kept):
            end = min(end, onsets[i + 1] - 0.005)
        events += [(on, 1, pitch), (max(end, on + 0.010), 0, pitch)]
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="melody")])
    now = 0
    for t, on, pitch in sorted(events):
        tick = max(now, round(tmap.ticks(t)))
        track.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=80 if on else 0, time=tick - now))
        now = tick
    conductor = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4)])
    at = 0
    for j, tempo in enumerate(tempos):
        conductor.append(mido.MetaMessage("set_tempo", tempo=tempo, time=j * TICKS_PER_BEAT - at))
        at = j * TICKS_PER_BEAT
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, tracks=[conductor, track])
    heard = sorted((on, pitch) for on, (_, _, pitch) in zip(onsets, kept))
    beats = np.array([seconds(b * STEPS_PER_BEAT) for b in range(first_beat, last_beat + 1)])
    grid = np.array([seconds(s) for s in range(first_beat * STEPS_PER_BEAT, (last_beat + 1) * STEPS_PER_BEAT)])
    return Performance(tune.name, heard, beats, grid, float(bpms[0]), midi, tune.meter.steps_per_beat == 6)


# -- trackers: performance -> beat times --------------------------------------------------------

# A tracker: performance -> (beat times, the beat period it holds at each of them).
Beats = tuple[np.ndarray, np.ndarray]


def follow_beats(perf: Performance, gains: FollowGains = FollowGains(), prior: float = PRIOR_BPM) -> Beats:
    until = perf.beats[-1] + 0.5 * (perf.beats[-1] - perf.beats[-2])
    ticks = run_clock(FollowClock(prior, STEPS_PER_BEAT, gains=gains), list(perf.heard), until)
    beats = [tk for tk in ticks if tk.step >= 0 and tk.step % STEPS_PER_BEAT == 0]
    return np.array([tk.t for tk in beats]), np.array([tk.step_seconds * STEPS_PER_BEAT for tk in beats])


def _constant(perf: Performance, bpm: float) -> Beats:
    start, period = perf.heard[0][0], 60.0 / bpm
    until = perf.beats[-1] + 0.5 * (perf.beats[-1] - perf.beats[-2])
    beats = start + period * np.arange(int((until - start) / period) + 1)
    return beats, np.full(len(beats), period)


def fixed_beats(perf: Performance) -> Beats:
    return _constant(perf, perf.first_bpm)


def default_beats(perf: Performance) -> Beats:
    return _constant(perf, PRIOR_BPM)


def pretty_midi_beats(perf: Performance) -> Beats:
    import pretty_midi

    buffer = io.BytesIO()
    perf.midi.save(file=buffer)
    buffer.seek(0)
    return _constant(perf, float(pretty_midi.PrettyMIDI(buffer).estimate_tempo()))


TRACKERS: dict[str, Callable[[Performance], Beats]] = {
    "follow (causal)": follow_beats,
    "fixed at the first bar's tempo": fixed_beats,
    f"fixed at {PRIOR_BPM:g} BPM (the default)": default_beats,
    "pretty_midi estimate_tempo (whole file)": pretty_midi_beats,
}


def tempo_accuracy(ref: np.ndarray, est: np.ndarray, periods: np.ndarray) -> float:
    """Share of reference beat intervals whose length the tracker's beat period, as of its last beat at or
    before the interval's start, matches within 4% (none yet: a miss)."""
    good = 0
    for a, b in zip(ref, ref[1:]):
        i = np.searchsorted(est, a + 1e-9, side="right") - 1
        if 0 <= i < len(est):
            good += abs(periods[i] / (b - a) - 1.0) <= TEMPO_TOLERANCE
    return good / max(len(ref) - 1, 1)


def scores(ref: np.ndarray, est: np.ndarray, periods: np.ndarray | None = None) -> dict[str, float]:
    """mir_eval's beat scores of `est` against `ref`, and the tempo accuracy of `periods` (default: the
    estimate's own beat intervals)."""
    import mir_eval

    if periods is None:
        periods = np.append(np.diff(est), np.diff(est)[-1:]) if len(est) > 1 else np.zeros(len(est))

    trimmed_ref, trimmed_est = mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est)
    _, cmlt, _, amlt = mir_eval.beat.continuity(trimmed_ref, trimmed_est)
    return {"F": mir_eval.beat.f_measure(trimmed_ref, trimmed_est), "CMLt": cmlt, "AMLt": amlt,
            "F whole": mir_eval.beat.f_measure(ref, est), "tempo": tempo_accuracy(ref, est, periods)}


def performances(tunes, cond: Condition, seed: int) -> list[Performance]:
    return [perform(t, cond, np.random.default_rng([seed, i, int(cond.ramp * 100), int(cond.drop * 100)]))
            for i, t in enumerate(tunes)]


def mean_scores(perfs: Sequence[Performance], track: Callable[[Performance], Beats]) -> dict[str, float]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns of an empty estimate (a tracker that never started)
        rows = [scores(p.beats, *track(p)) for p in perfs]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


# -- accompaniment ------------------------------------------------------------------------------

def on_time_share(perf: Performance, clock, model, settings) -> tuple[int, int]:
    """(part onsets within WINDOW of the true 16th grid, part onsets) when `model` accompanies the
    performance with `clock` (None: the file's own tempo grid, the truth)."""
    from sideman.bridge.midi import is_note_on
    from sideman.bridge.offline.render import read_melody, render

    result = render(read_melody(perf.midi), model, settings, clock=clock)
    times = np.array([t for t, m in result.events if is_note_on(m) and perf.grid[0] - WINDOW <= t <= perf.grid[-1] + WINDOW])
    if not len(times):
        return 0, 0
    nearest = np.abs(times[:, None] - perf.grid[None, :]).min(axis=1)
    return int((nearest <= WINDOW).sum()), len(times)


def accompaniment_rows(perfs: Sequence[Performance]) -> list[tuple[str, float, int]]:
    from sideman.bridge.config import Config
    from sideman.bridge.core.clock import InternalClock
    from sideman.bridge.engines import engine_settings, load_model, model_paths

    model = load_model(model_paths(Config())[0])
    settings = engine_settings(Config(), model.contract)
    spb = model.contract.steps_per_beat
    clocks: dict[str, Callable[[Performance], object]] = {
        "the file's tempo grid (a DAW clock: the truth)": lambda p: None,
        "--follow": lambda p: FollowClock(PRIOR_BPM, spb),
        "internal clock at the first bar's tempo": lambda p: InternalClock(p.first_bpm, spb),
        f"internal clock at {PRIOR_BPM:g} BPM (the default)": lambda p: InternalClock(PRIOR_BPM, spb),
    }
    rows = []
    for name, make in clocks.items():
        on = total = 0
        for p in perfs:
            a, b = on_time_share(p, make(p), model, settings)
            on, total = on + a, total + b
        rows.append((name, on / max(total, 1), total))
    return rows


# -- choosing gains on valid --------------------------------------------------------------------

SWEEP = {
    "phase": (0.3, 0.5, 0.7, 0.9),
    "period": (0.05, 0.1, 0.15, 0.25),
    "closeness": (0.1, 0.15, 0.2),
    "level_weights": ((1.0, 0.5, 0.25), (1.0, 0.25, 0.1), (1.0, 0.75, 0.5)),
    "acquire": (6, 8, 12),
    "certainty": (0.6, 0.9, 0.98),
    "switch": (4.0, 6.0, 8.0),
    "place_prior": (0.85, 0.95, 1.05),
    "acquire_beats": (6.0, 8.0, 12.0),
    "slew": (0.05, 0.1, 0.2),
}


def sweep(perfs: Sequence[Performance], rounds: int = 2) -> FollowGains:
    """Coordinate search over SWEEP: each key in turn takes the value with the best mean F (then CMLt)."""
    best = FollowGains()

    def value(g: FollowGains) -> tuple[float, float]:
        s = mean_scores(perfs, lambda p: follow_beats(p, g))
        return round(s["F"], 4), round(s["CMLt"], 4)

    best_value = value(best)
    for _ in range(rounds):
        for key, options in SWEEP.items():
            for option in options:
                trial = dataclasses.replace(best, **{key: option})
                v = value(trial)
                print(f"  {key}={option}: F {v[0]:.4f} CMLt {v[1]:.4f}", file=sys.stderr, flush=True)
                if v > best_value:
                    best, best_value = trial, v
    print(f"best on these tunes: {best} (F {best_value[0]:.4f}, CMLt {best_value[1]:.4f})", file=sys.stderr)
    return best


def format_tracking(rows: Sequence[tuple[str, str, dict[str, float]]]) -> str:
    lines = ["| performance | tracker | F (+-70 ms) | CMLt | AMLt | F, whole tune | tempo within 4% |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for cond, tracker, s in rows:
        lines.append(f"| {cond} | {tracker} | {s['F']:.3f} | {s['CMLt']:.3f} | {s['AMLt']:.3f} | {s['F whole']:.3f} "
                     f"| {100 * s['tempo']:.1f}% |")
    return "\n".join(lines)


def format_accompaniment(rows: Sequence[tuple[str, str, float, int]]) -> str:
    lines = ["| performance | grid | part onsets within 30 ms of the true grid | part onsets |", "|---|---|---:|---:|"]
    for cond, name, share, total in rows:
        lines.append(f"| {cond} | {name} | {100 * share:.1f}% | {total} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m benchmarks.beat_tracking", description=__doc__.split("\n")[0])
    p.add_argument("--split", choices=("valid", "test"), default="valid")
    p.add_argument("--limit", type=int, help="only N tunes, evenly spread (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sweep", action="store_true", help="choose the follower's gains on these tunes (valid only)")
    p.add_argument("--accompany", type=int, default=0, metavar="N", help="also accompany N tunes with the shipped model")
    args = p.parse_args(argv)
    from sideman.models.quality.tunes import folk_tunes

    tunes = folk_tunes(args.split, args.limit)
    print(f"beat tracking: {len(tunes)} Nottingham {args.split} tunes, seed {args.seed}", file=sys.stderr)
    if args.sweep:
        if args.split != "valid":
            p.error("--sweep chooses gains: valid tunes only")
        sweep(performances(tunes, CONDITIONS[-1], args.seed))
        return 0
    rows = []
    for cond in CONDITIONS:
        perfs = performances(tunes, cond, args.seed)
        for name, track in TRACKERS.items():
            started = time.perf_counter()
            rows.append((cond.name, f"{name}, {len(perfs)} tunes", mean_scores(perfs, track)))
            print(f"  {cond.name} / {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        for compound, meters in ((False, "2/4, 3/4, 4/4"), (True, "6/8")):
            some = [p for p in perfs if p.compound == compound]
            rows.append((cond.name, f"follow (causal), the {len(some)} tunes in {meters}", mean_scores(some, follow_beats)))
    print(format_tracking(rows))
    if args.accompany:
        from sideman.models.quality.tunes import pick

        chosen = [tunes[i] for i in pick(len(tunes), args.accompany)]
        acc = []
        for cond in CONDITIONS:
            for name, share, total in accompaniment_rows(performances(chosen, cond, args.seed)):
                acc.append((cond.name, name, share, total))
            print(f"  accompanied: {cond.name}", file=sys.stderr, flush=True)
        print()
        print(format_accompaniment(acc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
