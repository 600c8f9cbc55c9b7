"""`sideman evaluate`: teacher-forced NLL/accuracy against the baselines, and free-running
harmonizations of held-out melodies measured side by side with Bach's own parts.

Run on `--split valid` to choose the sampling temperature, on the test split once for reporting.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sideman.bridge.model.contract import Vocab

TARGET_NLL_GAIN = 0.30  # every part's NLL at least 30% below the n-gram's (lead known)
TARGET_CONSONANCE_PP = 3.0  # consonance within 3 percentage points of Bach
TARGET_PARALLELS_RATIO = 2.0  # parallels at most twice Bach's


def harmonize(model: Any, piece: Any, temperature: float, top_p: float, seed: int,
              vocab: Vocab = Vocab(), forbid_parallels: bool = True) -> np.ndarray:
    """Free-running harmonization of piece's soprano through `sample_step` (the exported graph):
    the lead is known at each step, the parts feed back the model's own choices, and (as in the live
    engine) the parallel guard of bridge/core/voice_leading.py bans parallel fifths/octaves unless
    `forbid_parallels` is False. Returns [T, 4]."""
    import torch

    from sideman.bridge.core.voice_leading import NO_PITCH, ParallelGuard, next_pitch

    rng = np.random.default_rng(seed)
    P, V = model.cfg.n_parts, model.cfg.vocab_size
    lead = piece.tokens[:, 0]
    out = np.empty_like(piece.tokens)
    out[:, 0] = lead
    state = model.initial_state(1)
    prev_lead, prev_parts = vocab.rest, np.full(P, vocab.rest)
    temp, topp = torch.tensor([temperature]), torch.tensor([top_p])
    guard = ParallelGuard(vocab, P, model.cfg.decode_order)
    pair_bias = torch.from_numpy(guard.pair_bias)  # shares memory: the guard fills it in place
    part_pitch, lead_pitch = np.full(P, NO_PITCH), NO_PITCH
    keys = None
    if model.cfg.key_input:
        from sideman.models.heard_key import heard_keys

        keys = torch.from_numpy(heard_keys(lead, piece.position[:, 0], vocab))
    with torch.no_grad():
        for t in range(len(lead)):
            u = rng.random((P, V)).clip(1e-12, 1 - 1e-12)
            noise = torch.from_numpy((-np.log(-np.log(u))).astype(np.float32))
            lead_now = next_pitch(lead_pitch, int(lead[t]), vocab)
            if forbid_parallels:
                guard.update_pairs(part_pitch)
                guard.update_lead(part_pitch, lead_pitch, lead_now)
            _, tokens, state = model.sample_step(
                torch.tensor([int(lead[t])]), torch.tensor([int(prev_lead)]), torch.from_numpy(prev_parts),
                torch.from_numpy(piece.position[t]), state, noise, temp, topp, torch.from_numpy(guard.lead_bias),
                pair_bias, key_probs=None if keys is None else keys[t])
            out[t, 1:] = prev_parts = tokens.numpy()
            part_pitch = np.array([next_pitch(int(a), int(b), vocab) for a, b in zip(part_pitch, prev_parts)])
            lead_pitch, prev_lead = lead_now, lead[t]
    return out


def teacher_forced_table(model: Any, pieces: Sequence[Any], train_tokens: Sequence[np.ndarray],
                         tune_tokens: Sequence[np.ndarray], part_names: Sequence[str]) -> dict[str, Any]:
    from sideman.models.baselines import NGram, Unigram, nll_and_accuracy, tune_weights
    from sideman.models.data import PARTS
    from sideman.models.train import scores

    rows: dict[str, Any] = {}
    for label, unknown in (("network, lead known", False), ("network, lead unknown", True)):
        s = scores(model, pieces, lead_unknown=unknown)
        rows[label] = {"nll": (s["nll"] / s["count"]).tolist(), "accuracy": (s["correct"] / s["count"]).tolist()}
    uni = Unigram(PARTS).fit(train_tokens)
    ngram = NGram(PARTS).fit(train_tokens)
    weights = tune_weights(ngram, tune_tokens)
    for label, base in (("unigram", uni), ("n-gram, lead known", ngram)):
        nll, acc, n = np.zeros(3), np.zeros(3), 0
        for p in pieces:
            a, b, c = nll_and_accuracy(base.log_probs(p.tokens), p.tokens)
            nll, acc, n = nll + a, acc + b, n + c
        rows[label] = {"nll": (nll / n).tolist(), "accuracy": (acc / n).tolist()}
    ng = np.array(rows["n-gram, lead known"]["nll"])
    net = np.array(rows["network, lead known"]["nll"])
    gain = (1 - net / ng).tolist()
    return {"parts": list(part_names), "rows": rows, "ngram_weights": list(weights),
            "nll_gain_vs_ngram": gain, "target_nll_met": bool(all(g >= TARGET_NLL_GAIN for g in gain))}


def free_running_table(model: Any, pieces: Sequence[Any], temperatures: Sequence[float], top_p: float,
                       seed: int, progress: bool = True, with_unguarded: bool = True) -> dict[str, Any]:
    """Bach's measures beside the model's at each temperature (with the parallel guard, as the bridge
    plays), and at the first temperature also without it (the network's own voice leading)."""
    from tqdm import tqdm

    from sideman.models.data import PARTS, VOICES
    from sideman.models.metrics import measure, summarize

    names = [p.name for p in PARTS]
    bach = sum((measure(p.tokens, VOICES, p.position) for p in pieces[1:]), measure(pieces[0].tokens, VOICES, pieces[0].position))
    out: dict[str, Any] = {"bach": summarize(bach, names), "model": {}}
    runs = [(temp, True) for temp in temperatures] + ([(temperatures[0], False)] if with_unguarded else [])
    for temp, guarded in runs:
        counts = None
        label = f"{temp:g}" if guarded else f"{temp:g} unguarded"
        for i, p in enumerate(tqdm(pieces, desc=f"harmonizing (T={label})", disable=not progress)):
            gen = harmonize(model, p, temp, top_p, seed + i, forbid_parallels=guarded)
            c = measure(gen, VOICES, p.position)
            counts = c if counts is None else counts + c
        s = summarize(counts, names)
        b = out["bach"]
        s["target_consonance_met"] = bool(abs(s["consonance_all"] - b["consonance_all"]) * 100 <= TARGET_CONSONANCE_PP)
        s["target_parallels_met"] = bool(s["parallels_per_100"] <= TARGET_PARALLELS_RATIO * b["parallels_per_100"])
        out["model"][label] = s
    return out


def format_report(result: dict[str, Any]) -> str:
    """Markdown tables (readable in a terminal and pasteable into a README)."""
    tf, fr = result["teacher_forced"], result["free_running"]
    parts = tf["parts"]
    lines = [f"Split: {result['split']} ({result['pieces']} pieces, {result['steps']} steps); "
             f"checkpoint {result['checkpoint']}", "",
             "| teacher-forced | " + " | ".join(f"{p} NLL" for p in parts) + " | "
             + " | ".join(f"{p} acc" for p in parts) + " |",
             "|---|" + "---:|" * (2 * len(parts))]
    for label, row in tf["rows"].items():
        lines.append(f"| {label} | " + " | ".join(f"{x:.3f}" for x in row["nll"]) + " | "
                     + " | ".join(f"{100 * x:.1f}%" for x in row["accuracy"]) + " |")
    gains = ", ".join(f"{p} {100 * g:.0f}%" for p, g in zip(parts, tf["nll_gain_vs_ngram"]))
    lines += ["", f"NLL in nats/step. Network NLL below the n-gram's (lead known): {gains} "
              f"(target >= {100 * TARGET_NLL_GAIN:.0f}% each: {'met' if tf['target_nll_met'] else 'NOT met'}). "
              f"N-gram weights {tf['ngram_weights']} tuned on {result['tune_split']}.", ""]
    temps = list(fr["model"])
    header = "| free-running | Bach | " + " | ".join(f"model T={t}" for t in temps) + " |"
    lines += [f"Free-running harmonization via sample_step (top_p {result['top_p']}, seed {result['seed']}); "
              "'unguarded' = without the parallel-fifths/octaves guard of bridge/core/voice_leading.py:", "",
              header, "|---|---:|" + "---:|" * len(temps)]
    keys = [("consonance_part_lead", "consonance part-lead", True), ("consonance_part_part", "consonance part-part", True),
            ("consonance_all", "consonance all pairs", True), ("parallel_fifths_per_100", "parallel 5ths /100 steps", False),
            ("parallel_octaves_per_100", "parallel 8ves /100 steps", False),
            ("crossings_per_100", "crossings /100 steps", False), ("out_of_range_notes", "out-of-range notes", False)]
    keys += [(f"notes_per_bar_{p}", f"notes/bar {p}", False) for p in parts]
    for key, label, pct in keys:
        fmt = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.2f}")
        lines.append(f"| {label} | {fmt(fr['bach'][key])} | " + " | ".join(fmt(fr["model"][t][key]) for t in temps) + " |")
    lines.append("| target: consonance within 3 pp | | " + " | ".join(
        "met" if fr["model"][t]["target_consonance_met"] else "NOT met" for t in temps) + " |")
    lines.append("| target: parallels <= 2x Bach | | " + " | ".join(
        "met" if fr["model"][t]["target_parallels_met"] else "NOT met" for t in temps) + " |")
    return "\n".join(lines)


def evaluate(checkpoint: Path, split: str = "test", temperatures: Sequence[float] = (0.8,), top_p: float = 1.0,
             seed: int = 0, limit: int | None = None, progress: bool = True) -> dict[str, Any]:
    import torch

    from sideman.models.checkpoint import load_checkpoint
    from sideman.models.data import PARTS, augmented, load_dataset

    torch.set_num_threads(2)
    model, meta = load_checkpoint(checkpoint)
    data = load_dataset(limit=limit, progress=progress)
    pieces = data.pieces[split]
    if not pieces:
        raise ValueError(f"the {split} split is empty")
    train_tokens = [p.tokens for p in augmented(data.pieces["train"])]
    tune = "valid" if data.pieces["valid"] else "train"
    tune_tokens = [p.tokens for p in data.pieces[tune]]
    names = [p.name for p in PARTS]
    result = {
        "checkpoint": str(checkpoint), "split": split, "pieces": len(pieces),
        "steps": int(sum(len(p.tokens) for p in pieces)), "top_p": top_p, "seed": seed, "tune_split": tune,
        "splits_hash": data.report["splits_hash"], "checkpoint_splits_hash": meta.get("splits_hash"),
        "teacher_forced": teacher_forced_table(model, pieces, train_tokens, tune_tokens, names),
        "free_running": free_running_table(model, pieces, temperatures, top_p, seed, progress),
    }
    return result


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    from sideman.models.train import DEFAULT_OUT

    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--split", choices=("valid", "test"), default="test",
                        help="valid for choosing settings; test once, for reporting")
    parser.add_argument("--temperature", type=float, nargs="+", default=[0.8], help="one or more temperatures")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only about N pieces (quick runs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--no-progress", action="store_true")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from sideman.bridge.errors import ConfigError

    if any(t <= 0 for t in args.temperature) or not 0 < args.top_p <= 1:
        raise ConfigError("--temperature must be > 0 and --top-p in (0, 1]")
    result = evaluate(args.checkpoint, args.split, args.temperature, args.top_p, args.seed, args.limit,
                      progress=not args.no_progress)
    print(format_report(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m sideman.models.evaluate ...` = `sideman evaluate ...` (before the CLI is installed)."""
    parser = argparse.ArgumentParser(prog="sideman evaluate")
    add_evaluate_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = ["evaluate", *(sys.argv[1:] if argv is None else argv)]
    return cmd_evaluate(args)


if __name__ == "__main__":
    sys.exit(main())
