"""How listeners agree with analysts' chords on Monteverdi's madrigals (music21's analyses), the way
`evaluate-listener` scores the Bach analyses: the chord heard at the last 16th of each labelled beat.

For each set of madrigals (`madrigals.madrigal_split`: train, valid, all) and each listener (the template
matcher, the engine's profile listener, recogniser checkpoints), all parts and the top part alone. Also the
share of scored beats whose labelled chord has a tone sounding nowhere in the beat: what no listener that
hears only the notes can name from them (on the madrigals, and counted on the Bach analyses).

Run: python -m benchmarks.madrigal_chords [CHECKPOINT ...] [--sets valid] [--bach-ceiling]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sideman.bridge.listen.features import STEPS_PER_BEAT
from sideman.bridge.listen.names import chord_pitch_classes
from sideman.models.listen.data import Example
from sideman.models.listen.evaluate import (DEFAULT_CHECKPOINT, beat_ends, chord_accuracy, predict,
                                            profile_listener_answers, template_answers)
from sideman.models.listen.madrigals import madrigal_split, monteverdi_analyses


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
    parser.add_argument("--bach-ceiling", action="store_true", help="also count the unheard share on the Bach analyses")
    args = parser.parse_args(argv)
    madrigals = monteverdi_analyses()
    print(f"madrigals: {len(madrigals.examples)} kept, left out {madrigals.left_out or 'none'}; bass agreement "
          f"{min(madrigals.agreement.values()):.3f}-{max(madrigals.agreement.values()):.3f}; "
          f"{madrigals.unscored_steps} steps of other qualities unscored")
    for name in args.sets.split(","):
        examples = [e for e in madrigals.examples if name == "all" or madrigal_split(e.name.split(":")[1]) == name]
        ceiling = unheard_share(examples)
        print(f"\n{name}: {len(examples)} madrigals, {ceiling['beats']} scored beats; label with a tone unheard "
              f"in its beat: {ceiling['share']:.3f}")
        print("| heard | listener | beats | accuracy |\n|---|---|---|---|")
        for key, row in rows(examples, args.checkpoints).items():
            heard, listener = key.split(" / ")
            print(f"| {heard} | {listener} | {row['beats']} | {row['accuracy']:.3f} |", flush=True)
    if args.bach_ceiling:
        from sideman.models.listen.data import load_analyses

        ceiling = unheard_share(load_analyses().examples)
        print(f"\nBach analyses: {ceiling['beats']} scored beats; label with a tone unheard in its beat: {ceiling['share']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
