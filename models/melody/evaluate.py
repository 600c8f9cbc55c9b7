"""`python -m sideman.models.melody.evaluate`: call and response measured on held-out tunes.

Each tune gives calls of two bars (a phrase start every six bars), played at 100 BPM with three bars of
silence after each, through `sideman.bridge.offline.render` in answer mode (the live road's engine and
answerer, with the shipped answer model). For each call:

- latency: from the call's last note-off to the answer's first note-on (the pause the answerer waits for,
  max(0.6 s, a beat) = 0.6 s here, plus the wait for the next 16th); and the time every `Answerer.tick` of
  the renderings took (the answerer's cost per grid tick): the thread's CPU time (its work, whatever the
  machine's load; the models run on the calling thread) and the wall-clock time;
- in key: the share of the answer's notes in the tune's key (folk: its notated key; Nottingham: the
  Krumhansl-Kessler key of the whole tune);
- motifs: the share of the answer's interval 3-grams (four notes' contour, any transposition) that also
  occur in the call;
- copying: the longest run of intervals the answer shares with the call, as a share of the answer's intervals
  (1.0: the answer is the call, perhaps transposed).

For reference, the tune's own next two bars answer too (what a folk tune does after two bars); baselines
answer without a model: the call again a fifth up, and the call's rhythm on random notes of the call's key
(`call_key`) within its range. Settings are chosen with `--split valid`; `test` is run
once. `airdsAirs` is never read (models/listen/folk.py refuses it).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import mido
import numpy as np

from sideman.bridge.core.answer import Answerer, AnswerSettings, call_key
from sideman.bridge.core.harmony import key_pitch_classes
from sideman.bridge.core.key_profiles import KEY_TEMPLATES

BPM = 100.0
STEP = 60.0 / BPM / 4
CALL_STEPS = 32  # two 4/4 bars
PERIOD_STEPS = 96  # a call every six bars of the tune
GAP_BEATS = 12  # silence after each call: the pause, the answer and room to spare
TPB = 480


@dataclass(frozen=True)
class Call:
    tune: str
    notes: list[tuple[int, int, int]]  # (start, end, pitch) steps from the call's start
    following: list[tuple[int, int, int]]  # the tune's next two bars, from their start
    key: np.ndarray  # [12] the tune's key's pitch classes


@dataclass
class Answer:
    notes: list[tuple[float, float, int]]  # (start s from the call's end, end, pitch)


def tune_key(example: Any) -> np.ndarray:
    """The notated key of a folk tune, else the profile key of the whole melody."""
    k = int(example.key[0]) if len(example.key) and example.key[0] >= 0 else -1
    if k < 0:
        hist = np.zeros(12, np.float32)
        for a, b, p in example.melody:
            hist[p % 12] += b - a
        k = int(np.argmax(KEY_TEMPLATES @ (hist - hist.mean())))
    return key_pitch_classes(k % 12, k >= 12)


def window(melody: np.ndarray, start: int) -> list[tuple[int, int, int]]:
    """The notes beginning in CALL_STEPS from `start`, cut at its end, in steps from `start`."""
    return [(a - start, min(b, start + CALL_STEPS) - start, int(p)) for a, b, p in melody.tolist()
            if start <= a < start + CALL_STEPS]


def calls_of(example: Any, per_tune: int) -> list[Call]:
    beats = np.flatnonzero(example.phase == 0)
    if not len(beats):
        return []
    out = []
    for start in range(int(beats[0]), example.n_steps - CALL_STEPS, PERIOD_STEPS):
        notes, after = (window(example.melody, s) for s in (start, start + CALL_STEPS))
        if len(notes) >= 6 and len(after) >= 2:
            out.append(Call(example.name, notes, after, tune_key(example)))
        if len(out) == per_tune:
            break
    return out


def held_out_calls(split: str, tunes: int, per_tune: int) -> list[Call]:
    """Calls from `tunes` Nottingham and `tunes` folk tunes of `split` (spread over the split)."""
    from sideman.models.listen.data import folk_examples, nottingham_examples

    folk, _ = folk_examples(progress=False)
    calls = []
    for examples in (nottingham_examples()[split], folk[split]):
        chosen = [examples[i] for i in np.linspace(0, len(examples) - 1, min(tunes, len(examples))).astype(int)]
        for e in chosen:
            calls += calls_of(e, per_tune)
    return calls


def performance(calls: Sequence[Call]) -> tuple[mido.MidiFile, list[float]]:
    """The calls one after another, GAP_BEATS of silence after each; and each call's end (s)."""
    events, ends, at = [], [], 0
    for call in calls:
        for a, b, p in call.notes:
            events += [(at + a * TPB // 4, 1, mido.Message("note_on", note=p, velocity=80)),
                       (at + b * TPB // 4 - 10, 0, mido.Message("note_off", note=p))]
        ends.append((at + max(b for _, b, _ in call.notes) * TPB // 4 - 10) / TPB * 60.0 / BPM)
        at += CALL_STEPS * TPB // 4 + GAP_BEATS * TPB
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM))])
    last = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - last))
        last = tick
    return mido.MidiFile(tracks=[track], ticks_per_beat=TPB), ends


class TimedAnswerer(Answerer):
    """The answerer, timing each of its ticks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tick_seconds: list[tuple[float, float]] = []  # (thread CPU, wall)

    def tick(self, step: int, t: float, step_seconds: float) -> list[mido.Message]:
        cpu, wall = time.thread_time(), time.perf_counter()
        out = super().tick(step, t, step_seconds)
        self.tick_seconds.append((time.thread_time() - cpu, time.perf_counter() - wall))
        return out


def model_answers(calls: Sequence[Call], settings: AnswerSettings) -> tuple[list[Answer], list[tuple[float, float]]]:
    """Each call's answer through the offline renderer in answer mode, and each answerer tick's (CPU, wall) time."""
    from sideman.bridge.engines import DEFAULT_MODEL, load_model
    from sideman.bridge.model.melody import MelodyModel
    from sideman.bridge.offline.render import render

    chorale, melody = load_model(DEFAULT_MODEL), MelodyModel.load()
    answers, ticks = [], []
    for i in range(0, len(calls), 20):  # a file of 20 calls at a time
        batch = calls[i:i + 20]
        midi, ends = performance(batch)
        answerer = TimedAnswerer(melody, settings)
        result = render(midi, chorale, answerer=answerer)
        notes = [n for n in result.notes if n.voice == "answer"]
        ticks += answerer.tick_seconds
        for k, end in enumerate(ends):
            nxt = ends[k + 1] if k + 1 < len(ends) else float("inf")
            answers.append(Answer([(n.start - end, n.end - end, n.pitch) for n in notes if end < n.start < nxt]))
    return answers, ticks


def the_tune(call: Call, rng: np.random.Generator) -> Answer:
    """What the tune itself plays after the call: its next two bars."""
    return Answer([((a + 4) * STEP, (b + 4) * STEP, p) for a, b, p in call.following])


def repeat_fifth(call: Call, rng: np.random.Generator) -> Answer:
    return Answer([((a + 4) * STEP, (b + 4) * STEP, p + 7) for a, b, p in call.notes])


def random_in_key(call: Call, rng: np.random.Generator) -> Answer:
    pcs = call_key([p for _, _, p in call.notes], [b - a for a, b, _ in call.notes])
    lo, hi = min(p for _, _, p in call.notes), max(p for _, _, p in call.notes)
    pool = [p for p in range(lo, hi + 1) if pcs[p % 12]] or [lo]
    return Answer([((a + 4) * STEP, (b + 4) * STEP, int(rng.choice(pool))) for a, b, _ in call.notes])


def intervals(pitches: Sequence[int]) -> list[int]:
    return [b - a for a, b in zip(pitches, pitches[1:])]


def longest_shared(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest run that occurs in both sequences."""
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:
        row = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                row[j] = prev[j - 1] + 1
                best = max(best, row[j])
        prev = row
    return best


def scores(call: Call, answer: Answer) -> dict[str, float] | None:
    """The measures of one answer (None if it has fewer than two notes)."""
    pitches = [p for _, _, p in sorted(answer.notes)]
    if len(pitches) < 2:
        return None
    call_iv, ans_iv = intervals([p for _, _, p in call.notes]), intervals(pitches)
    grams = lambda iv: [tuple(iv[i:i + 3]) for i in range(len(iv) - 2)]  # noqa: E731
    theirs = set(grams(call_iv))
    mine = grams(ans_iv)
    call_len = max(b for _, b, _ in call.notes) * STEP
    return {"latency": sorted(answer.notes)[0][0],
            "in_key": float(np.mean([call.key[p % 12] > 0 for p in pitches])),
            "motifs": float(np.mean([g in theirs for g in mine])) if mine else 0.0,
            "copying": longest_shared(call_iv, ans_iv) / len(ans_iv),
            "length": (max(e for _, e, _ in answer.notes) - sorted(answer.notes)[0][0]) / call_len}


def spread(seconds: np.ndarray) -> str:
    us = seconds * 1e6
    return f"{np.percentile(us, 50):.0f} / {np.percentile(us, 99):.0f} / {us.max():.0f}" if len(us) else "-"


def table(rows: dict[str, list[dict[str, float] | None]], ticks: dict[str, list[tuple[float, float]]]) -> str:
    head = ("| answer | answered | latency p50 / p95 (s) | answerer tick p50 / p99 / max (µs CPU) | (µs wall) | in key | "
            "motif 3-grams shared | longest shared run (copying) | length / call |")
    lines = [head, "|" + "---|" * 9]
    for name, got in rows.items():
        ok = [s for s in got if s is not None]
        m = lambda k: float(np.mean([s[k] for s in ok]))  # noqa: E731
        lat = np.percentile([s["latency"] for s in ok], [50, 95])
        times = np.asarray(ticks.get(name, []), np.float64).reshape(-1, 2)
        work = f"{spread(times[:, 0])} | {spread(times[:, 1])}"
        lat_text = f"{lat[0]:.2f} / {lat[1]:.2f}" if name.startswith("melody") else "(not played)"
        lines.append(f"| {name} | {len(ok)}/{len(got)} | {lat_text} | {work} | {m('in_key'):.3f} | {m('motifs'):.3f} | "
                     f"{m('copying'):.3f} | {m('length'):.2f} |")
    return "\n".join(lines)


def evaluate(split: str, tunes: int, per_tune: int, settings: Sequence[AnswerSettings], seed: int = 0) -> str:
    calls = held_out_calls(split, tunes, per_tune)
    rows: dict[str, list[dict[str, float] | None]] = {}
    ticks: dict[str, list[float]] = {}
    for s in settings:
        name = f"melody GRU (temperature {s.temperature:g}, key {s.key_strength:g}, motif {s.motif_strength:g})"
        answers, ticks[name] = model_answers(calls, s)
        rows[name] = [scores(c, a) for c, a in zip(calls, answers)]
    baselines: dict[str, Callable[[Call, np.random.Generator], Answer]] = {
        "the tune's own next two bars": the_tune, "the call a fifth up": repeat_fifth, "random notes in the call's key": random_in_key}
    for name, answer in baselines.items():
        rng = np.random.default_rng(seed)
        rows[name] = [scores(c, answer(c, rng)) for c in calls]
    return f"{len(calls)} calls of two bars from the {split} split\n\n" + table(rows, ticks)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=("valid", "test"), default="valid")
    p.add_argument("--tunes", type=int, default=60, help="tunes of each source (Nottingham, folk)")
    p.add_argument("--per-tune", type=int, default=2)
    p.add_argument("--temperature", type=float, nargs="+", default=[AnswerSettings.temperature])
    p.add_argument("--key-strength", type=float, nargs="+", default=[AnswerSettings.key_strength])
    p.add_argument("--motif-strength", type=float, nargs="+", default=[AnswerSettings.motif_strength])
    args = p.parse_args(argv)
    grid = [replace(AnswerSettings(), temperature=t, key_strength=k, motif_strength=m)
            for t in args.temperature for k in args.key_strength for m in args.motif_strength]
    print(evaluate(args.split, args.tunes, args.per_tune, grid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
