"""How listeners agree with analysts' chords on Monteverdi's madrigals (music21's analyses), the way
`evaluate-listener` scores the Bach analyses: the chord heard at the last 16th of each labelled beat.

For each set of madrigals (`madrigals.madrigal_split`: train, valid, all) and each listener (the template
matcher, the engine's profile listener, recogniser checkpoints), all parts and the top part alone. Also the
share of scored beats whose labelled chord has a tone sounding nowhere in the beat: what no listener that
hears only the notes can name from them (on the madrigals, and counted on the Bach analyses). With
`--rules`, how labelling rules for training data (`label_rule`) agree with the analysts.

Run: python -m benchmarks.madrigal_chords [CHECKPOINT ...] [--sets valid] [--bach-ceiling] [--rules]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sideman.bridge.listen.features import STEPS_PER_BEAT
from sideman.bridge.listen.names import NO_CHORD, chord_pitch_classes
from sideman.models.listen.chords import match_chord
from sideman.models.listen.data import Example
from sideman.models.listen.evaluate import (DEFAULT_CHECKPOINT, beat_ends, chord_accuracy, predict,
                                            profile_listener_answers, template_answers)
from sideman.models.listen.madrigals import monteverdi_analyses


def unheard_share(examples: Sequence[Example]) -> dict[str, float]:
    """Share of scored beats whose labelled chord has a pitch class sounding nowhere in the beat."""
    missing = total = 0
    for e in examples:
        notes = [*e.melody.tolist(), *e.accompaniment.tolist()]
        for t in beat_ends(e):
            a = t - STEPS_PER_BEAT + 1
            heard = {p % 12 for start, end, p in notes if start <= t and end > a}
            missing += not set(chord_pitch_classes(int(e.chord[t]))) <= heard
            total += 1
    return {"beats": total, "share": missing / max(total, 1)}


def label_rule(e: Example, rest_weight: float, keep: bool) -> np.ndarray:
    """[T] a chord per beat from the beat's notes: those at its onset weigh 1, those struck or sounding later
    `rest_weight` each step; with `keep`, the previous beat's chord stays while the notes fit it (and
    through silence)."""
    sounding: list[list[int]] = [[] for _ in range(e.n_steps)]
    for start, end, p in [*e.melody.tolist(), *e.accompaniment.tolist()]:
        for t in range(start, min(end, e.n_steps)):
            sounding[t].append(p)
    onsets = np.flatnonzero(e.phase == 0)
    out, previous = np.full(e.n_steps, NO_CHORD), NO_CHORD
    for a, b in zip(onsets, [*onsets[1:], e.n_steps]):
        weights, lowest = np.zeros(12), None
        for t in range(a, b):
            for p in sounding[t] if t == a or rest_weight > 0 else []:
                weights[p % 12] += 1.0 if t == a else rest_weight
                lowest = p if lowest is None else min(lowest, p)
        chord = match_chord(weights, lowest)
        fits = keep and previous != NO_CHORD and set(np.flatnonzero(weights)) <= set(chord_pitch_classes(previous))
        out[a:b] = previous = previous if fits else chord
    return out


RULES = {"notes at the onset (the chorales' rule)": (0.0, False), "the whole beat": (1.0, False),
         "onset, then keep the chord while the notes fit": (0.0, True),
         "onset + 0.25 x the rest of the beat, keep": (0.25, True), "the whole beat, keep": (1.0, True)}


def rows(examples: Sequence[Example], checkpoints: Sequence[Path]) -> dict[str, dict[str, float]]:
    from sideman.models.listen.network import load_listener

    out: dict[str, dict[str, float]] = {}
    for with_acc, heard in ((True, "all parts"), (False, "top part")):
        out[f"{heard} / template"] = chord_accuracy(examples, [template_answers(e, with_acc) for e in examples])
        out[f"{heard} / profile listener"] = chord_accuracy(
            examples, [profile_listener_answers(e, with_acc)[1] for e in examples])
        for path in checkpoints:
            model, _ = load_listener(path)
            preds = predict(model, [e.features(with_acc) for e in examples])
            out[f"{heard} / {path.name}"] = chord_accuracy(examples, [p[1] for p in preds])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="*", default=[DEFAULT_CHECKPOINT])
    parser.add_argument("--sets", default="valid", help="comma-separated: train, valid, all")
    parser.add_argument("--rules", action="store_true", help="also the labelling rules of RULES")
    parser.add_argument("--bach-ceiling", action="store_true", help="also count the unheard share on the Bach analyses")
    args = parser.parse_args(argv)
    madrigals = monteverdi_analyses()
    print(f"madrigals: {len(madrigals.examples)} kept, left out {madrigals.left_out or 'none'}; bass agreement "
          f"{min(madrigals.agreement.values()):.3f}-{max(madrigals.agreement.values()):.3f}; "
          f"{madrigals.unscored_steps} steps of other qualities unscored")
    for name in args.sets.split(","):
        examples = madrigals.split(name)
        ceiling = unheard_share(examples)
        print(f"\n{name}: {len(examples)} madrigals, {ceiling['beats']} scored beats; label with a tone unheard "
              f"in its beat: {ceiling['share']:.3f}")
        print("| heard | listener | beats | accuracy |\n|---|---|---|---|")
        for key, row in rows(examples, args.checkpoints).items():
            heard, listener = key.split(" / ")
            print(f"| {heard} | {listener} | {row['beats']} | {row['accuracy']:.3f} |", flush=True)
        for rule, (rest_weight, keep) in RULES.items() if args.rules else ():
            row = chord_accuracy(examples, [label_rule(e, rest_weight, keep) for e in examples])
            print(f"| all parts, whole beat | label rule: {rule} | {row['beats']} | {row['accuracy']:.3f} |")
    if args.bach_ceiling:
        from sideman.models.listen.data import load_analyses

        ceiling = unheard_share(load_analyses().examples)
        print(f"\nBach analyses: {ceiling['beats']} scored beats; label with a tone unheard in its beat: {ceiling['share']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
