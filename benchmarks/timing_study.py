"""What zero latency costs musically: test-split melodies, played with human timing, through the live core.

Every melody of the TEST split is written as a MIDI track (100 BPM by default) with its onsets
displaced by Gaussian noise (sigma = 0, 15, 30 ms; fixed seeds) and rendered by
`sideman.bridge.offline.render.render` — the same `Engine` the live bridge runs, in simulated time — for several
early/late window settings. For each condition it reports, next to Bach's own parts for the same
melodies:

- clash %: share of steps (sampled at each step's midpoint, from the notes actually sounding) where a
  sounding part forms a dissonance with the sounding lead (sideman.models.metrics.consonant: not 0/3/4/7/8/9
  semitones mod 12; a fourth counts as dissonant against the bass);
- known %: share of the melody's note onsets that the engine answered knowing the note (its step was
  answered, or re-answered, with the onset);
- re-answers per 100 steps (late-window corrections) and re-voiced parts per 100 steps (part notes
  those corrections changed: what a listener can hear as a correction);
- sideman.models.metrics consonance (part-lead, all pairs) and parallels per 100 steps on the token grid
  [the written melody, the parts as finally answered].

Run: python -m benchmarks.timing_study [--model PATH | --fake] [--limit N] [--bpm 100]
(the table in docs/timing.md comes from this). Needs the chorale cache (`sideman data`) and numpy/mido
only; no torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

WINDOWS_MS: tuple[tuple[float, float], ...] = ((0, 0), (15, 15), (30, 30), (50, 50), (30, 0), (0, 30), (50, 30), (75, 30))
SIGMAS_MS: tuple[float, ...] = (0.0, 15.0, 30.0)
TICKS_PER_BEAT = 960  # 0.625 ms per tick at 100 BPM: fine enough for the jitter


@dataclass(frozen=True)
class Row:
    label: str
    sigma_ms: float | None
    early_ms: float | None
    late_ms: float | None
    clash: float
    known: float | None
    reanswers_per_100: float | None
    revoiced_per_100: float | None
    consonance_part_lead: float
    consonance_all: float
    parallels_per_100: float


def padded_tokens(piece, steps_per_beat: int = 4) -> np.ndarray:
    """The piece's tokens [T, 4] with rests in front so that step 0 is a downbeat (pickup bars)."""
    from sideman.models.data import VOCAB

    step_in_beat, beat = (int(x) for x in piece.position[0])
    pad = 0 if (step_in_beat, beat) == (0, 0) else beat * steps_per_beat + step_in_beat
    if pad:
        front = np.full((pad, piece.tokens.shape[1]), VOCAB.rest, dtype=np.int64)
        return np.concatenate([front, piece.tokens])
    return piece.tokens


def beats_per_bar(piece) -> int:
    return int(piece.position[:, 1].max()) + 1


def melody_midi(lead_tokens: np.ndarray, bars_beats: int, bpm: float, sigma_s: float, rng: np.random.Generator):
    """The lead as a mido.MidiFile; onsets displaced by N(0, sigma), legato notes released just before
    the next (displaced) onset, detached notes at their written end plus the same kind of noise."""
    import mido

    from sideman.models.data import tokens_to_notes

    step_s = 60.0 / bpm / 4
    notes = tokens_to_notes(lead_tokens)
    starts = [max(0.0, s * step_s + (rng.normal(0.0, sigma_s) if sigma_s else 0.0)) for s, _, _ in notes]
    events = []
    for i, (s, e, pitch) in enumerate(notes):
        legato = i + 1 < len(notes) and notes[i + 1][0] == e
        if legato:
            end = starts[i + 1] - 0.005
        else:
            end = e * step_s + (rng.normal(0.0, sigma_s) if sigma_s else 0.0)
        end = max(end, starts[i] + 0.010)
        events.append((starts[i], 1, pitch))
        events.append((end, 0, pitch))
    spt = 60.0 / bpm / TICKS_PER_BEAT
    timed = sorted((round(t / spt), on, p) for t, on, p in events)
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="soprano")])
    now = 0
    for tick, on, pitch in timed:
        track.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=80 if on else 0, time=tick - now))
        now = tick
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)),
                                mido.MetaMessage("time_signature", numerator=bars_beats, denominator=4)])
    return mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, tracks=[conductor, track])


def heard_clash_steps(pitch: np.ndarray, n_parts: int) -> tuple[int, int]:
    """(steps where the lead and a part sound, of those the steps with a dissonant part-lead pair)."""
    from sideman.models.metrics import consonant

    lead = pitch[:, 0]
    both_any = np.zeros(len(pitch), bool)
    clash = np.zeros(len(pitch), bool)
    for k in range(1, n_parts + 1):
        both = (lead >= 0) & (pitch[:, k] >= 0)
        bad = both & ~consonant(pitch[:, k] - lead, with_bass=(k == n_parts))
        both_any |= both
        clash |= bad
    return int(both_any.sum()), int(clash.sum())


def sounding_at_midpoints(result, n_steps: int) -> np.ndarray:
    """[n_steps, 1 + P] pitch sounding at the middle of each step (-1 = silence), from the rendered notes."""
    out = np.full((n_steps, len(result.voices)), -1, dtype=np.int64)
    mids = (np.arange(n_steps) + 0.5) * result.step_seconds
    for col, voice in enumerate(result.voices):
        for n in result.notes:
            if n.voice == voice:
                out[(mids >= n.start) & (mids < n.end), col] = n.pitch
    return out


def run_condition(pieces, model, sigma_ms: float, early_ms: float, late_ms: float, bpm: float, seed: int):
    """Accompany every piece under one timing condition; returns summed counts."""
    from sideman.bridge.core.engine import EngineSettings
    from sideman.bridge.engines import suggested_channels
    from sideman.bridge.offline.render import render
    from sideman.models.data import VOCAB
    from sideman.models.metrics import HarmonyCounts, measure

    contract = model.contract
    n_parts = len(contract.parts)
    settings = EngineSettings(part_channels=suggested_channels(contract), early_window=early_ms / 1000,
                              late_window=late_ms / 1000, seed=seed)
    counts = HarmonyCounts()
    both = clash = steps = reanswers = revoiced = onsets = known = 0
    for i, piece in enumerate(pieces):
        tokens = padded_tokens(piece)
        rng = np.random.default_rng([seed, i, int(sigma_ms * 10)])
        midi = melody_midi(tokens[:, 0], beats_per_bar(piece), bpm, sigma_ms / 1000, rng)
        result = render(midi, model, settings)
        T = result.n_steps
        lead = np.full(T, VOCAB.rest, dtype=np.int64)
        lead[: len(tokens)] = tokens[:, 0]
        parts = np.array([s.tokens if s is not None else (VOCAB.rest,) * n_parts for s in result.steps], dtype=np.int64)
        grid = np.concatenate([lead[:, None], parts], axis=1)
        counts = counts + measure(grid, (contract.lead, *contract.parts))
        b, c = heard_clash_steps(sounding_at_midpoints(result, T), n_parts)
        both, clash, steps = both + b, clash + c, steps + T
        reanswers, revoiced = reanswers + result.reanswers, revoiced + result.revoiced
        written = np.flatnonzero((lead >= VOCAB.onset_offset))
        onsets += len(written)
        known += sum(1 for t in written if result.steps[t] is not None and result.steps[t].lead == lead[t])
    return counts, both, clash, steps, reanswers, revoiced, onsets, known


def bach_row(pieces, voices) -> Row:
    from sideman.models.metrics import HarmonyCounts, measure, sounding, summarize

    counts, both, clash = HarmonyCounts(), 0, 0
    for piece in pieces:
        tokens = padded_tokens(piece)
        counts = counts + measure(tokens, voices)
        b, c = heard_clash_steps(sounding(tokens)[0], len(voices) - 1)
        both, clash = both + b, clash + c
    s = summarize(counts, [v.name for v in voices[1:]])
    return Row("Bach", None, None, None, clash / max(both, 1), None, None, None, s["consonance_part_lead"],
               s["consonance_all"], s["parallels_per_100"])


def study(pieces, model, bpm: float = 100.0, seed: int = 0, sigmas: Sequence[float] = SIGMAS_MS,
          windows: Sequence[tuple[float, float]] = WINDOWS_MS, progress: bool = True) -> list[Row]:
    from sideman.models.metrics import summarize

    contract = model.contract
    rows = [bach_row(pieces, (contract.lead, *contract.parts))]
    for sigma in sigmas:
        for early, late in windows:
            started = time.perf_counter()
            counts, both, clash, steps, reanswers, revoiced, onsets, known = run_condition(
                pieces, model, sigma, early, late, bpm, seed)
            s = summarize(counts, contract.part_names)
            rows.append(Row("model", sigma, early, late, clash / max(both, 1), known / max(onsets, 1),
                            100.0 * reanswers / max(steps, 1), 100.0 * revoiced / max(steps, 1),
                            s["consonance_part_lead"], s["consonance_all"],
                            s["parallels_per_100"]))
            if progress:
                print(f"  sigma {sigma:g} ms, windows {early:g}/{late:g} ms: {steps} steps in "
                      f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return rows


def format_table(rows: Sequence[Row]) -> str:
    head = ("| timing sigma | early/late window | clash % | known % | re-answers /100 steps "
            "| re-voiced parts /100 steps | consonance part-lead | consonance all | parallels /100 steps |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        timing = "Bach's parts" if r.sigma_ms is None else f"{r.sigma_ms:g} ms"
        win = "-" if r.early_ms is None else f"{r.early_ms:g} / {r.late_ms:g} ms"
        known = "-" if r.known is None else f"{100 * r.known:.1f}"
        re = "-" if r.reanswers_per_100 is None else f"{r.reanswers_per_100:.2f}"
        rv = "-" if r.revoiced_per_100 is None else f"{r.revoiced_per_100:.2f}"
        lines.append(f"| {timing} | {win} | {100 * r.clash:.1f} | {known} | {re} | {rv} | {r.consonance_part_lead:.3f} "
                     f"| {r.consonance_all:.3f} | {r.parallels_per_100:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.timing_study", description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", metavar="PATH", help="ONNX model (default: bridge/assets/chorale-gru.onnx)")
    src.add_argument("--fake", action="store_true", help="use the deterministic fake model of the tests (plumbing check only)")
    p.add_argument("--limit", type=int, help="only the first N test melodies")
    p.add_argument("--bpm", type=float, default=100.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from sideman.models.data import load_dataset

    if args.fake:
        from tests.fakes import FakeStepModel

        model, name = FakeStepModel(hold_threshold=0.5), "fake (tests/fakes.py)"
    else:
        from sideman.bridge.config import Config
        from sideman.bridge.engines import load_model, model_paths

        model = load_model(model_paths(Config(), [args.model] if args.model else None)[0])
        name = str(getattr(model, "path", args.model))
    pieces = load_dataset(progress=False).pieces["test"]
    if args.limit:
        pieces = pieces[: args.limit]
    print(f"timing study: {len(pieces)} test-split melodies, {args.bpm:g} BPM, model {name}, seed {args.seed}",
          file=sys.stderr)
    rows = study(pieces, model, bpm=args.bpm, seed=args.seed)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
