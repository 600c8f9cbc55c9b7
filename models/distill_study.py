"""The distillation table: today's online model, the student, the offline teacher and the rule-based
baselines side by side on a tune set of models/quality, plus the teacher-forced NLL on the chorale split
and the share of the online-to-offline gap the student closes.

    python3 -m sideman.models.distill_study --set folk-test --student S.onnx --teacher T.pt [--today M.onnx]

Online models play through the offline engine exactly as `sideman accompany` does (their ONNX graphs,
the engine's temperature and parallel guard); the teacher cannot run there (it reads the whole tune),
so it samples its own parts (TeacherNet.harmonize, the same temperature, no guard).
Settings are chosen on the -valid sets; each -test set is run once for the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sideman.bridge.model.contract import Vocab
from sideman.models.quality.grid import Parts, Tune

GAP_KEYS = ("clash", "in_chord")  # the rates whose online-to-offline gap is reported


def lead_tokens(tune: Tune, low: int = 60, high: int = 81, vocab: Vocab = Vocab()) -> np.ndarray:
    """The tune as lead tokens, moved by octaves into [low, high] as the engine folds it."""
    tokens = np.full(tune.n_steps, vocab.rest, dtype=np.int64)
    for t in range(tune.n_steps):
        p = int(tune.pitch[t])
        if p < 0:
            continue
        if tune.onset[t] or t == 0 or tune.pitch[t - 1] != p:
            while p < low:
                p += 12
            while p > high:
                p -= 12
            tokens[t] = vocab.onset(p)
        else:
            tokens[t] = vocab.hold
    return tokens


def tune_position(tune: Tune, steps_per_beat: int = 4, max_beats: int = 8) -> np.ndarray:
    """(step_in_beat, beat_in_bar) in quarter-note beats, bars of the tune's meter."""
    s = np.arange(tune.n_steps)
    in_bar = s % tune.meter.bar_steps
    return np.stack([in_bar % steps_per_beat, np.minimum(in_bar // steps_per_beat, max_beats - 1)], 1)


@dataclass
class TeacherAccompanist:
    """The offline teacher's own sampled parts for a whole tune (it needs the tune in advance)."""

    checkpoint: Path
    temperature: float = 0.7
    model: Any = None

    def __call__(self, tune: Tune, seed: int) -> Parts:
        import torch

        from sideman.models.checkpoint import load_checkpoint
        from sideman.models.metrics import sounding

        if self.model is None:
            self.model, _ = load_checkpoint(self.checkpoint)
        melody = torch.from_numpy(lead_tokens(tune))[None]
        position = torch.from_numpy(tune_position(tune))[None]
        gen = torch.Generator().manual_seed(seed)
        parts = self.model.harmonize(melody, position, torch.tensor([tune.n_steps]), self.temperature, gen)[0]
        pitch, onset = sounding(parts.numpy())
        return Parts(pitch, onset)


def chorale_nll(checkpoint: Path, split: str) -> float:
    """Teacher-forced NLL (nats per part-step, lead known) on a chorale split."""
    from sideman.models.checkpoint import load_checkpoint
    from sideman.models.data import load_dataset
    from sideman.models.train import scores

    model, _ = load_checkpoint(checkpoint)
    s = scores(model, load_dataset(progress=False).pieces[split])
    return float(s["nll"].sum() / s["count"].sum())


def gap_closed(today: dict[str, float], student: dict[str, float], teacher: dict[str, float]) -> dict[str, float]:
    """Per measure, (student - today) / (teacher - today): 1 = the whole online-to-offline gap closed."""
    out = {}
    for key in GAP_KEYS:
        gap = teacher[key] - today[key]
        out[key] = float("nan") if abs(gap) < 1e-12 else (student[key] - today[key]) / gap
    return out


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from sideman.models.quality.engine_row import EngineAccompanist
    from sideman.models.quality.study import DEAF, DEFAULT_SEEDS, Entry, format_table, table
    from sideman.models.quality.tunes import SETS, load_set

    parser = argparse.ArgumentParser(prog="python3 -m sideman.models.distill_study")
    parser.add_argument("--set", choices=SETS, default="folk-valid")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--student", type=Path, required=True, help="the student's ONNX graph")
    parser.add_argument("--teacher", type=Path, required=True, help="the teacher's checkpoint")
    parser.add_argument("--today", type=Path, default=None,
                        help="the imitation model's ONNX graph (default models/default/chorale-gru-imitation.onnx)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--nll", nargs="*", type=Path, default=[],
                        help="checkpoints whose teacher-forced NLL on the matching chorale split to report")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the teacher and the NLL")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from sideman.models.quality.accompanists import causal_harmonizer, human, offline_harmonizer, tonic_triad

    from sideman.models.paths import imitation_model

    today = args.today or imitation_model()
    seeds = tuple(args.seeds)
    tunes = load_set(args.set, args.limit or None)
    people = "human (Nottingham's chords)" if args.set.startswith("folk") else "Bach (alto, tenor, bass)"
    student = f"student ({args.student.name})"
    entries = [Entry("sustained tonic triad", tonic_triad), Entry("causal rule-based harmonizer", causal_harmonizer),
               Entry("offline rule-based harmonizer", offline_harmonizer),
               # The networks as they are, without the engine's key and chord hearing (the teacher has none either).
               Entry("today's model (imitation)", EngineAccompanist(today, DEAF), seeds),
               Entry(student, EngineAccompanist(args.student, DEAF), seeds),
               Entry("teacher (offline)", TeacherAccompanist(args.teacher), seeds), Entry(people, human)]
    rows = table(tunes, entries, progress=True)
    by = {r.name: r.rates for r in rows}
    closed = gap_closed(by["today's model (imitation)"], by[student], by["teacher (offline)"])
    split = args.set.split("-", 1)[1]
    nll = {str(p): chorale_nll(p, split) for p in args.nll}
    print(f"{args.set}: {len(tunes)} tunes, seeds {', '.join(map(str, seeds))}\n")
    print(format_table(rows))
    print("\nshare of the online-to-offline gap the student closes: "
          + ", ".join(f"{k} {100 * v:.0f}%" for k, v in closed.items()))
    for p, v in nll.items():
        print(f"teacher-forced NLL on chorale-{split}: {p}: {v:.4f}")
    if args.json:
        args.json.write_text(json.dumps({"set": args.set, "rows": {r.name: r.rates for r in rows},
                                         "seconds": {r.name: r.seconds for r in rows},
                                         "gap_closed": closed, "nll": nll}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
