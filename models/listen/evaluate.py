"""How well the recogniser hears, against the baselines, on the same causal windows.

Keys, on held-out folk tunes: the key heard at the end of bar 2 and of bar 8 (everything before is
heard, nothing after), scored as accuracy and as the MIREX weighted score (1 same key, 0.5 a fifth
above, 0.3 relative, 0.2 parallel, as mir_eval counts them). Baselines: music21's key finders
(Krumhansl-Schmuckler, Aarden-Essen, simple weights) on the durations of the notes heard so far.
Chords, per beat: the chord heard at the last 16th of each beat, against the label there, on the
Roman-numeral analyses (all four voices, and the soprano alone), the Nottingham and the JSB test
splits (melody alone, and melody with accompaniment); on valid, music21's chorales (`chorales`) too.
Baseline: the template matcher (`chords.match_chord`) on the pitch classes of the beat so far,
weighted by how long each sounds.

`sideman evaluate-listener --split valid` is for choosing settings; `--split test` is run once per model.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sideman.bridge.listen.features import STEPS_PER_BEAT
from sideman.bridge.listen.names import key_is_minor, key_tonic
from sideman.models.listen.chords import match_chord
from sideman.models.listen.data import IGNORE, Example

KEY_BARS = (2, 8)
KEY_FINDERS = ("KrumhanslSchmuckler", "AardenEssen", "SimpleWeights")
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "default" / "listener-cnn.pt"


# -- scores ------------------------------------------------------------------------------------------


def mirex(estimate: int, reference: int) -> float:
    """MIREX weighted key score of one estimate (mir_eval's rules)."""
    if estimate == reference:
        return 1.0
    same_mode = key_is_minor(estimate) == key_is_minor(reference)
    up = (key_tonic(estimate) - key_tonic(reference)) % 12
    if same_mode and up == 7:
        return 0.5
    if not same_mode and ((key_is_minor(reference) and up == 3) or (not key_is_minor(reference) and up == 9)):
        return 0.3
    if not same_mode and up == 0:
        return 0.2
    return 0.0


def key_cut(example: Example, bars: int) -> int | None:
    """The last step of the example's bar `bars` (None if the tune is shorter)."""
    if len(example.bar_ends) < bars:
        return None
    return int(example.bar_ends[bars - 1]) - 1


def beat_ends(example: Example) -> np.ndarray:
    """Steps that end a beat and carry a chord label."""
    ends = np.flatnonzero(example.phase == STEPS_PER_BEAT - 1)
    return ends[example.chord[ends] != IGNORE]


def key_table(examples: Sequence[Example], answer: Callable[[Example, int], int]) -> dict[str, Any]:
    """Accuracy and MIREX score of `answer(example, cut_step)` at the end of each of KEY_BARS."""
    out: dict[str, Any] = {}
    for bars in KEY_BARS:
        scored = [(answer(e, cut), int(e.key[cut])) for e in examples if (cut := key_cut(e, bars)) is not None]
        out[f"bar{bars}"] = {"tunes": len(scored),
                             "accuracy": float(np.mean([a == r for a, r in scored])) if scored else float("nan"),
                             "mirex": float(np.mean([mirex(a, r) for a, r in scored])) if scored else float("nan")}
    return out


def chord_accuracy(examples: Sequence[Example], answers: Sequence[np.ndarray]) -> dict[str, Any]:
    """Share of labelled beat ends where answers[i][t] (a chord per step) equals the label."""
    hits = total = 0
    for e, a in zip(examples, answers):
        ends = beat_ends(e)
        hits += int((a[ends] == e.chord[ends]).sum())
        total += len(ends)
    return {"beats": total, "accuracy": hits / total if total else float("nan")}


# -- the recogniser ----------------------------------------------------------------------------------


def predict_probs(model: Any, features: Sequence[np.ndarray], batch: int = 32) -> list[tuple[np.ndarray, np.ndarray]]:
    """(key probabilities [T, 24], chord argmax [T]) per sequence of features [T, F]: the causal network over
    each whole sequence, which is what stepping it one step at a time gives."""
    import torch

    model.eval()
    order = sorted(range(len(features)), key=lambda i: len(features[i]))
    answers: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    with torch.no_grad():
        for a in range(0, len(order), batch):
            chunk = order[a : a + batch]
            T = max(len(features[i]) for i in chunk)
            x = np.zeros((len(chunk), T, features[chunk[0]].shape[1]), np.float32)
            for b, i in enumerate(chunk):
                x[b, : len(features[i])] = features[i]  # padding after the end changes nothing before it
            key, chord = model(torch.from_numpy(x))
            key = torch.softmax(key, dim=-1)
            for b, i in enumerate(chunk):
                n = len(features[i])
                answers[i] = (key[b, :n].numpy(), chord[b, :n].argmax(-1).numpy())
    return [answers[i] for i in range(len(features))]


def predict(model: Any, features: Sequence[np.ndarray], batch: int = 32) -> list[tuple[np.ndarray, np.ndarray]]:
    """(key argmax [T], chord argmax [T]) per sequence of features [T, F]."""
    return [(key.argmax(-1), chord) for key, chord in predict_probs(model, features, batch)]


def model_rows(model: Any, sets: dict[str, Any]) -> dict[str, Any]:
    """The recogniser's figures on every set of `evaluation_sets`."""
    rows: dict[str, Any] = {}
    for group, tunes in sets["keys"].items():
        preds = predict(model, [e.features(False) for e in tunes])
        by_name = {e.name: p[0] for e, p in zip(tunes, preds)}
        rows[f"keys/{group}"] = key_table(tunes, lambda e, cut: int(by_name[e.name][cut]))
    for name, (examples, with_acc) in sets["chords"].items():
        preds = predict(model, [e.features(with_acc) for e in examples])
        rows[f"chords/{name}"] = chord_accuracy(examples, [p[1] for p in preds])
    return rows


# -- baselines ---------------------------------------------------------------------------------------


def pitch_class_durations(notes: np.ndarray, cut: int) -> np.ndarray:
    """[12] steps each pitch class has sounded up to and including step `cut`."""
    out = np.zeros(12)
    for start, end, pitch in notes.tolist():
        if start <= cut:
            out[pitch % 12] += min(end, cut + 1) - start
    return out


class KeyFinder:
    """One of music21's key finders (`music21.analysis.discrete`): its major and minor weights correlated
    (Pearson) with the duration of each pitch class heard so far, the best of the 24 keys. This is the
    arithmetic of the finder's `getSolution`, without building a Stream per call (seconds each)."""

    def __init__(self, name: str) -> None:
        from music21.analysis import discrete

        finder = getattr(discrete, name)()
        weights = [np.array(finder.getWeights(mode), np.float64) for mode in ("major", "minor")]
        # rows: key index (mode * 12 + tonic); row k is the mode's weights rotated to start on its tonic
        self.profiles = np.array([np.roll(w, tonic) for w in weights for tonic in range(12)])

    def __call__(self, durations: np.ndarray) -> int:
        d = durations - durations.mean()
        p = self.profiles - self.profiles.mean(axis=1, keepdims=True)
        r = (p @ d) / np.sqrt((p**2).sum(axis=1) * (d**2).sum() + 1e-12)
        return int(np.argmax(r))


def template_answers(example: Example, with_accompaniment: bool) -> np.ndarray:
    """The template matcher's chord at each step: the pitch classes heard since the beat began, each
    weighted by the steps it sounds, the lowest note of the beat so far as the bass."""
    notes = example.melody.tolist() + (example.accompaniment.tolist() if with_accompaniment else [])
    n = example.n_steps
    sounding: list[list[int]] = [[] for _ in range(n)]
    for start, end, pitch in notes:
        for t in range(max(start, 0), min(end, n)):
            sounding[t].append(pitch)
    out = np.empty(n, np.int64)
    weights, lowest = np.zeros(12), None
    for t in range(n):
        if t == 0 or example.phase[t] <= example.phase[t - 1]:  # a new beat
            weights, lowest = np.zeros(12), None
        for p in sounding[t]:
            weights[p % 12] += 1
            lowest = p if lowest is None else min(lowest, p)
        out[t] = match_chord(weights, lowest)
    return out


def profile_listener_probs(example: Example, with_accompaniment: bool) -> tuple[np.ndarray, np.ndarray]:
    """(key probabilities [T, 24], chord [T]) as the engine's default listener
    (bridge/core/key_profiles.ProfileListener) hears them, stepped through the notes as the engine steps it."""
    from sideman.bridge.core.key_profiles import ProfileListener
    from sideman.bridge.listen.features import frames

    notes = example.melody.tolist() + (example.accompaniment.tolist() if with_accompaniment else [])
    n = example.n_steps
    listener = ProfileListener(STEPS_PER_BEAT)
    keys, chords = np.empty((n, listener.key_probs.size), np.float32), np.empty(n, np.int64)
    for t, (sounding, struck) in enumerate(frames(notes, n)):
        listener.step(sounding, struck, int(example.phase[t]))
        keys[t], chords[t] = listener.key_probs, int(listener.chord_probs.argmax())
    return keys, chords


def profile_listener_answers(example: Example, with_accompaniment: bool) -> tuple[np.ndarray, np.ndarray]:
    """(key [T], chord [T]) as the engine's default listener hears them."""
    keys, chords = profile_listener_probs(example, with_accompaniment)
    return keys.argmax(-1), chords


PROFILE_LISTENER = "profile listener (engine default)"


def baseline_rows(sets: dict[str, Any]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for group, tunes in sets["keys"].items():
        for finder in KEY_FINDERS:
            find = KeyFinder(finder)
            rows[f"keys/{group}/{finder}"] = key_table(tunes, lambda e, cut: find(pitch_class_durations(e.melody, cut)))
        heard = {e.name: profile_listener_answers(e, False)[0] for e in tunes}
        rows[f"keys/{group}/{PROFILE_LISTENER}"] = key_table(tunes, lambda e, cut: int(heard[e.name][cut]))
    for name, (examples, with_acc) in sets["chords"].items():
        rows[f"chords/{name}/template"] = chord_accuracy(examples, [template_answers(e, with_acc) for e in examples])
        rows[f"chords/{name}/{PROFILE_LISTENER}"] = chord_accuracy(
            examples, [profile_listener_answers(e, with_acc)[1] for e in examples])
    return rows


# -- the sets ----------------------------------------------------------------------------------------


def evaluation_sets(split: str, progress: bool = True) -> dict[str, Any]:
    """Folk tunes of `split` (all, and by source) for keys; chord sets of `split`, plus the analyses on test."""
    from sideman.models.listen.chorales import chorale_examples
    from sideman.models.listen.data import folk_examples, jsb_examples, load_analyses, nottingham_examples, read_polyphonic

    folk, _ = folk_examples(progress)
    tunes = folk[split]
    analyses = load_analyses()
    jsb, _ = jsb_examples(analyses.sopranos)
    notts = nottingham_examples()
    irish = [e for e in tunes if not e.name.startswith("folk:essenFolksong")]
    keys = {"all": tunes, "oneills+ryans": irish, "essen": [e for e in tunes if e not in irish]}
    chords: dict[str, tuple[list[Example], bool]] = {}
    if split == "test":
        chords["analyses, 4 voices"] = (analyses.examples, True)
        chords["analyses, soprano"] = (analyses.examples, False)
    else:  # music21's chorales have a train and a valid split only
        chorales, _ = chorale_examples(analyses.sopranos, read_polyphonic("jsb_chorales")["test"], progress)
        chords["chorales, soprano"] = (chorales[split], False)
        chords["chorales, 4 voices"] = (chorales[split], True)
    chords.update({"nottingham, melody": (notts[split], False), "nottingham, melody+chords": (notts[split], True),
                   "jsb, soprano": (jsb[split], False), "jsb, 4 voices": (jsb[split], True)})
    return {"keys": keys, "chords": chords}


def table(rows: dict[str, Any], label: str) -> str:
    """The markdown tables of docs/listening.md."""
    lines = ["| key, folk tunes | tunes (2 / 8 bars) | method | accuracy at 2 bars | MIREX at 2 | accuracy at 8 bars | MIREX at 8 |",
             "|---|---|---|---|---|---|---|"]
    for key, row in rows.items():
        parts = key.split("/")
        if parts[0] != "keys":
            continue
        method = label if len(parts) == 2 else parts[2]
        b2, b8 = row["bar2"], row["bar8"]
        lines.append(f"| {parts[1]} | {b2['tunes']} / {b8['tunes']} | {method} | {b2['accuracy']:.3f} | {b2['mirex']:.3f} "
                     f"| {b8['accuracy']:.3f} | {b8['mirex']:.3f} |")
    lines += ["", "| chords, per beat | beats | method | accuracy |", "|---|---|---|---|"]
    for key, row in rows.items():
        parts = key.split("/")
        if parts[0] == "chords":
            lines.append(f"| {parts[1]} | {row['beats']} | {label if len(parts) == 2 else parts[2]} | {row['accuracy']:.3f} |")
    return "\n".join(lines)


def evaluate(checkpoint: Path, split: str, baselines: bool, progress: bool = True) -> dict[str, Any]:
    from sideman.models.listen.network import load_listener

    t0 = time.monotonic()
    model, meta = load_listener(checkpoint)
    sets = evaluation_sets(split, progress)
    rows = model_rows(model, sets)
    if baselines:
        rows.update(baseline_rows(sets))
    ordered = dict(sorted(rows.items(), key=lambda kv: kv[0].split("/")[:2]))
    return {"checkpoint": str(checkpoint), "split": split, "rows": ordered, "train_command": meta.get("command"),
            "minutes": round((time.monotonic() - t0) / 60, 2)}


def add_evaluate_listener_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, nargs="?", default=DEFAULT_CHECKPOINT,
                        help=f"a listener checkpoint (default {DEFAULT_CHECKPOINT.name} in models/default)")
    parser.add_argument("--split", choices=("valid", "test"), default="valid",
                        help="valid (choosing settings) or test (once per model; adds the Roman-numeral analyses)")
    parser.add_argument("--no-baselines", action="store_true", help="only the recogniser")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")


def cmd_evaluate_listener(args: argparse.Namespace) -> int:
    result = evaluate(args.checkpoint, args.split, not args.no_baselines)
    argv = getattr(args, "argv", None) or sys.argv[1:]
    result["command"] = "sideman " + shlex.join(argv)
    print(table(result["rows"], "recogniser"))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0
