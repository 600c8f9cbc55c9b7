"""Cold start and surprise: how many beats an accompanist needs to clash no more than usual after
(a) starting mid-tune and (b) the tune jumping a tritone.

- The cut: the start of the bar holding the tune's middle step (`cut_step`). A beat is a quarter note
  (4 steps) in every meter, the engine's beat, so times pool across tunes.
- (a) cold start: the tune from the cut on, nothing before it (`cold_start`).
  (b) surprise: the tune from its start, everything from the cut on a tritone away (`surprise`), up or
  down towards the middle of the soprano range.
- Each event has a reference: the same bars played without the event (the tune from its start, for (a);
  the whole tune in the new key, for (b)). It is the steady level: the same notes played by the same
  accompanist undisturbed, so a slow recovery cannot hide in it (as it could in beats 16-32 after the
  event), and each window is compared with the reference's same window, so what the bars themselves
  ask for (a cadence, a run of passing notes) cancels out.
- Per beat since the event, clash as models/quality counts it, pooled over tunes and seeds. Recovery:
  the first beat b from which every window of `window` beats [b', b' + window), b' >= b, clashes within
  `tolerance` of the reference's same window and starts on a beat where the parts sound on at least
  half the tune's sounding steps (a silent accompanist has not started, so it has not recovered). The
  one-sided recovery only asks that the window clash at most `tolerance` more than the reference.
- Beside the clash: the share of the parts' notes outside the key of the measured bars of the tune
  (keys.krumhansl of those steps), since parts can avoid the tune's clashes while keeping the old key.

    python3 -m sideman.models.quality.coldstart --set folk-test --limit 30 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from sideman.models.quality.grid import Parts, Tune
from sideman.models.quality.keys import krumhansl, scale
from sideman.models.quality.measures import clash_steps
from sideman.models.quality.study import DEAF, DEFAULT_SEEDS, Entry

BEAT_STEPS = 4  # a quarter note
HORIZON = 32  # beats after the event that are measured
TRITONE = 6
LEAD_MIDDLE = 70.5  # the middle of the soprano range C4..A5 the model's lead is folded into
MIN_SOUNDING = 0.5  # share of the tune's sounding steps the parts must sound on for a beat to count as played
BUCKETS = ((0, 4), (4, 8), (8, 16), (16, 32))
EVENTS = ("cold start", "surprise")
COMMAND = "python3 -m sideman.models.quality.coldstart"


# -- the events ----------------------------------------------------------------------------------

def cut_step(tune: Tune) -> int:
    """The start of the bar holding the tune's middle sounding step (0 for a tune shorter than two bars)."""
    bar = tune.meter.bar_steps
    return (tune.end // 2) // bar * bar


def _derived(tune: Tune, name: str, pitch: np.ndarray, onset: np.ndarray, at: int) -> Tune:
    """A new tune whose note sounding at step `at` starts there (a held note is struck again)."""
    onset = onset.copy()
    if at < len(pitch) and pitch[at] >= 0:
        onset[at] = True
    return Tune(name, pitch, onset, tune.meter, krumhansl(pitch), None)


def cold_start(tune: Tune, cut: int, stop: int) -> Tune:
    """The tune's steps cut..stop alone: the player starts there."""
    return _derived(tune, f"{tune.name}@{cut}", tune.pitch[cut:stop].copy(), tune.onset[cut:stop], 0)


def until(tune: Tune, stop: int) -> Tune:
    """The tune from its start up to `stop` (causal accompanists play its earlier steps the same)."""
    return Tune(tune.name, tune.pitch[:stop].copy(), tune.onset[:stop].copy(), tune.meter, tune.key, None)


def tritone(tune: Tune, cut: int) -> int:
    """+6 or -6: the direction that moves the tune after the cut towards the middle of the lead range."""
    after = tune.pitch[cut:]
    sounding = after[after >= 0]
    return TRITONE if not len(sounding) or sounding.mean() < LEAD_MIDDLE else -TRITONE


def surprise(tune: Tune, cut: int, stop: int, interval: int, start: int | None = None) -> Tune:
    """The tune up to `stop` with every note from step `start` (default: the cut) moved by `interval`;
    start=0 gives the reference, the whole tune in the new key."""
    start = cut if start is None else start
    pitch = tune.pitch[:stop].copy()
    moved = pitch[start:]
    moved[moved >= 0] += interval
    return _derived(tune, f"{tune.name}+{interval}@{start}", pitch, tune.onset[:stop], start)


# -- counting ------------------------------------------------------------------------------------

ROWS = 5  # per beat: tune sounds, tune and a part sound, a clash, part onsets, part onsets out of key


def beat_counts(tune_pitch: np.ndarray, parts: Parts, offset: int, beats: int = HORIZON) -> np.ndarray:
    """[ROWS, beats]: per beat from step `offset`, the steps where the tune sounds, where the tune and some
    part sound, and where a part clashes (measures.clash_steps); the parts' onsets, and those outside the
    key of the measured steps of the tune (keys.krumhansl); beats past the tune's end count nothing."""
    out = np.zeros((ROWS, beats), dtype=np.int64)
    tp = np.asarray(tune_pitch)[offset : offset + beats * BEAT_STEPS]
    pp, po = parts.pitch[offset : offset + len(tp)], parts.onset[offset : offset + len(tp)]
    both, bad = clash_steps(tp, pp)
    beat = np.arange(len(tp)) // BEAT_STEPS
    out_of_key = po & ~np.isin(pp % 12, sorted(scale(krumhansl(tp))))
    for row, steps in enumerate((tp >= 0, both, bad, po.sum(axis=1), out_of_key.sum(axis=1))):
        out[row] = np.bincount(beat, weights=steps, minlength=beats)[:beats]
    return out


@dataclass
class Curves:
    """Pooled per-beat counts ([ROWS, HORIZON], see beat_counts) of each event and its reference."""

    event: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    plays: int = 0  # tune x seed plays


def play_events(tunes: Sequence[Tune], entry: Entry) -> Curves:
    zero = lambda: np.zeros((ROWS, HORIZON), dtype=np.int64)  # noqa: E731
    curves = Curves({e: zero() for e in EVENTS}, {e: zero() for e in EVENTS})
    for tune in tunes:
        cut = cut_step(tune)
        if cut == 0:
            continue
        stop = cut + HORIZON * BEAT_STEPS
        interval = tritone(tune, cut)
        plays = {
            "cold start": (cold_start(tune, cut, stop), 0, until(tune, stop), cut),
            "surprise": (surprise(tune, cut, stop, interval), cut, surprise(tune, cut, stop, interval, 0), cut),
        }
        for seed in entry.seeds:
            curves.plays += 1
            for event, (played, at, reference, ref_at) in plays.items():
                curves.event[event] += beat_counts(played.pitch, entry.play(played, seed), at)
                curves.reference[event] += beat_counts(reference.pitch, entry.play(reference, seed), ref_at)
    return curves


# -- recovery ------------------------------------------------------------------------------------

def _share(counts: np.ndarray, part: int, whole: int, a: int, b: int) -> float:
    total = counts[whole, a:b].sum()
    return float(counts[part, a:b].sum() / total) if total else float("nan")


def rate(counts: np.ndarray, a: int, b: int) -> float:
    """Clash over beats a..b-1."""
    return _share(counts, 2, 1, a, b)


def recovery(event: np.ndarray, reference: np.ndarray, window: int, tolerance: float, one_sided: bool = False) -> int | None:
    """The first beat from which every `window`-beat running clash of `event` stays within `tolerance` of
    the reference's same window (one-sided: at most `tolerance` above it) and starts on a played beat (see
    the module doc); None if the last window is not there."""
    beats = event.shape[1]
    played = event[1] >= MIN_SOUNDING * event[0]
    recovered = None
    for b in range(beats - window, -1, -1):
        excess = rate(event, b, b + window) - rate(reference, b, b + window)
        near = excess <= tolerance if one_sided else abs(excess) <= tolerance
        if not (played[b] and event[0, b] and near):
            break
        recovered = b
    return recovered


@dataclass(frozen=True)
class Summary:
    steady: float  # the reference's clash over the measured beats
    buckets: tuple[tuple[float, float], ...]  # per BUCKETS: the event's clash, and minus the reference's there
    silent_first: float  # share of the tune's sounding steps in beats 0-4 where no part sounds
    out_of_key: tuple[float, float]  # share of part onsets out of key in beats 0-8: the event's, the reference's
    recovery: int | None
    excess_recovery: int | None  # one-sided


def summarize(event: np.ndarray, reference: np.ndarray, window: int, tolerance: float) -> Summary:
    heard = event[0, :4].sum()
    return Summary(rate(reference, 0, HORIZON),
                   tuple((rate(event, a, b), rate(event, a, b) - rate(reference, a, b)) for a, b in BUCKETS),
                   float(1 - event[1, :4].sum() / heard) if heard else float("nan"),
                   (_share(event, 4, 3, 0, 8), _share(reference, 4, 3, 0, 8)),
                   recovery(event, reference, window, tolerance), recovery(event, reference, window, tolerance, True))


# -- the table -----------------------------------------------------------------------------------

def _pct(x: float) -> str:
    return "–" if np.isnan(x) else f"{100 * x:.1f}%"


def _bucket(value: float, excess: float) -> str:
    return "–" if np.isnan(value) else f"{100 * value:.1f}% ({100 * excess:+.1f})"


def _beats(r: int | None) -> str:
    return f"not by beat {HORIZON}" if r is None else str(r)


def format_table(results: dict[str, Curves], window: int, tolerance: float) -> str:
    head = ("| accompanist | event | steady (untouched, beats 0-32) | beats 0-4 (vs untouched) | 4-8 | 8-16 | 16-32 "
            f"| parts silent, beats 0-4 | recovery (beats; window {window}, ±{100 * tolerance:g} pts) "
            f"| recovery of excess clash (≤ +{100 * tolerance:g} pts) | part notes out of key, beats 0-8 (untouched) |")
    lines = [head, "|---|---|" + "---:|" * 9]
    for name, curves in results.items():
        for event in EVENTS:
            s = summarize(curves.event[event], curves.reference[event], window, tolerance)
            lines.append(f"| {name} | {event} | {_pct(s.steady)} | " + " | ".join(_bucket(*b) for b in s.buckets)
                         + f" | {_pct(s.silent_first)} | {_beats(s.recovery)} | {_beats(s.excess_recovery)} "
                         + f"| {_pct(s.out_of_key[0])} ({_pct(s.out_of_key[1])}) |")
    return "\n".join(lines)


def entries(seeds: Sequence[int], student: Path | None) -> list[Entry]:
    from sideman.models.quality.accompanists import causal_harmonizer
    from sideman.models.quality.engine_row import EngineAccompanist

    from sideman.models.paths import imitation_model

    rows = [Entry("the shipped engine hearing key, chord and tune (the config's defaults)", EngineAccompanist(), tuple(seeds)),
            Entry("the shipped model alone (no harmony bias)", EngineAccompanist(None, dict(DEAF)), tuple(seeds)),
            Entry("the imitation model alone (chorale-gru-imitation.onnx, no harmony bias)",
                  EngineAccompanist(imitation_model(), dict(DEAF)), tuple(seeds)),
            Entry("causal rule-based harmonizer", causal_harmonizer)]
    if student is not None:
        rows += [Entry(f"student ({student.name}) hearing key, chord and tune (the config's defaults)",
                       EngineAccompanist(student), tuple(seeds)),
                 Entry(f"student ({student.name}) alone (no harmony bias)", EngineAccompanist(student, dict(DEAF)),
                       tuple(seeds))]
    return rows


def _save(path: Path, results: dict[str, Curves], meta: dict) -> None:
    path.write_text(json.dumps({**meta, "rows": {n: {"plays": c.plays,
                                                     "event": {e: c.event[e].tolist() for e in EVENTS},
                                                     "reference": {e: c.reference[e].tolist() for e in EVENTS}}
                                                 for n, c in results.items()}}))


def _load(path: Path) -> tuple[dict[str, Curves], dict]:
    data = json.loads(path.read_text())
    rows = data.pop("rows")
    return {n: Curves({e: np.array(r["event"][e]) for e in EVENTS}, {e: np.array(r["reference"][e]) for e in EVENTS},
                      r["plays"]) for n, r in rows.items()}, data


def main(argv: Sequence[str] | None = None) -> int:
    from sideman.bridge.errors import SidemanError
    from sideman.models.quality.tunes import SETS, load_set

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=COMMAND, description="beats to recover from a cold start and a tritone jump")
    parser.add_argument("--set", choices=SETS, default="folk-valid", help="tune set (default folk-valid)")
    parser.add_argument("--limit", type=int, default=30, help="tunes, spread evenly over the split (0 = all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="seeds of the model rows")
    parser.add_argument("--window", type=int, default=8, help="beats of the running clash (default 8, chosen on folk-valid)")
    parser.add_argument("--tolerance", type=float, default=2.0, help="points from the steady level (default 2)")
    parser.add_argument("--student", type=Path, help="another ONNX graph: adds its rows, with and without the harmony bias")
    parser.add_argument("--json", type=Path, help="write the per-beat counts here")
    parser.add_argument("--from-json", type=Path, help="summarize counts written by --json instead of playing")
    args = parser.parse_args(argv)
    try:
        if not 1 <= args.window <= HORIZON:
            raise SidemanError(f"--window {args.window}: give 1..{HORIZON} beats")
        if args.limit < 0:
            raise SidemanError(f"--limit {args.limit}: give a number of tunes, or 0 for all")
        if args.from_json:
            try:
                results, meta = _load(args.from_json)
            except (OSError, ValueError, KeyError) as exc:
                raise SidemanError(f"{args.from_json}: not counts written by --json ({exc})") from exc
        else:
            tunes = load_set(args.set, args.limit or None)
            meta = {"set": args.set, "tunes": len(tunes), "seeds": args.seeds}
            results = {}
            for entry in entries(args.seeds, args.student):
                results[entry.name] = play_events(tunes, entry)
                print(f"  {entry.name}: done", file=sys.stderr, flush=True)
            if args.json:
                _save(args.json, results, meta)
    except SidemanError as exc:
        print(f"sideman: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"{meta['set']}: {meta['tunes']} tunes, model rows seeds {', '.join(map(str, meta['seeds']))}\n")
    print(format_table(results, args.window, args.tolerance / 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
