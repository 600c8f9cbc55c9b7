"""Bach chorales (bundled with music21) as token grids: one token per voice per 16th-note step.

A piece is `tokens [T, 4]` (columns: soprano = lead, then the parts alto, tenor, bass) and
`position [T, 2]` = (step_in_beat, beat_in_bar), beat = quarter note. Tokens come from
`sideman.bridge.model.contract.Vocab`: rest, hold, onset(pitch); `unknown` is never stored (training puts it in).
Parsing all chorales takes minutes, so the result is cached in one .npz keyed by the hash of this
file's source and music21's version. The split lists in models/splits/ are committed; `sideman data
--write-splits` regenerates them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from sideman.bridge.model.contract import Vocab, Voice

STEPS_PER_BEAT = 4
MAX_BEATS_IN_BAR = 8
VOCAB = Vocab()
# Lead first, then the parts in contract order; ranges are MIDI [low, high] in the original keys.
LEAD = Voice("soprano", 60, 81)
PARTS = (Voice("alto", 53, 74, channel=2), Voice("tenor", 48, 69, channel=3), Voice("bass", 36, 64, channel=4))
VOICES = (LEAD, *PARTS)
SHIFTS = range(-6, 7)
SPLIT_NAMES = ("train", "valid", "test")
SPLITS_DIR = Path(__file__).with_name("splits")
_SATB_WORDS = (("soprano", "sopran", "s."), ("alto", "alt", "a."), ("tenor", "ten", "t."), ("bass", "bas", "b."))


@dataclass(frozen=True)
class Piece:
    name: str  # corpus file name, e.g. "bwv10.7.mxl"
    tokens: np.ndarray  # [T, 4] int64: soprano, alto, tenor, bass
    position: np.ndarray  # [T, 2] int64: step_in_beat, beat_in_bar


@dataclass
class Dataset:
    pieces: dict[str, list[Piece]]  # split name -> pieces (original keys)
    report: dict[str, Any] = field(default_factory=dict)  # kept/dropped counts and reasons, notes


class PieceError(ValueError):
    """A corpus file that cannot be used; the message is the reason reported by `sideman data`."""


# ---------------------------------------------------------------------------------------------
# tokens <-> notes


def notes_to_tokens(notes: Iterable[tuple[int, int, int]], n_steps: int, vocab: Vocab = VOCAB) -> np.ndarray:
    """(start_step, end_step, pitch) notes of one voice -> [n_steps] tokens; later notes overwrite."""
    out = np.full(n_steps, vocab.rest, dtype=np.int64)
    for start, end, pitch in sorted(notes):
        if end <= start:
            continue
        out[start] = vocab.onset(pitch)
        out[start + 1 : end] = vocab.hold
    return out


def tokens_to_notes(tokens: Sequence[int] | np.ndarray, vocab: Vocab = VOCAB) -> list[tuple[int, int, int]]:
    """[T] tokens of one voice -> (start_step, end_step, pitch) notes. A hold after a rest is silence."""
    notes: list[tuple[int, int, int]] = []
    start, pitch = -1, -1
    for t, tok in enumerate(np.asarray(tokens).tolist()):
        if tok == vocab.hold and start >= 0:
            continue
        if start >= 0:
            notes.append((start, t, pitch))
            start = -1
        if vocab.is_onset(tok):
            start, pitch = t, vocab.pitch(tok)
    if start >= 0:
        notes.append((start, len(tokens), pitch))
    return notes


def sounding_pitches(tokens: np.ndarray, vocab: Vocab = VOCAB) -> np.ndarray:
    """[T, ...] tokens -> same-shape int array of the pitch sounding at each step, -1 for silence."""
    tokens = np.asarray(tokens)
    flat = tokens.reshape(len(tokens), -1)
    out = np.full(flat.shape, -1, dtype=np.int64)
    for v in range(flat.shape[1]):
        for start, end, pitch in tokens_to_notes(flat[:, v], vocab):
            out[start:end, v] = pitch
    return out.reshape(tokens.shape)


def transpose(tokens: np.ndarray, shift: int, vocab: Vocab = VOCAB) -> np.ndarray:
    """Shift every onset token by `shift` semitones (caller checks the ranges with `fits_ranges`)."""
    onset = tokens >= vocab.onset_offset
    out = tokens.copy()
    out[onset] += shift
    return out


def pitch_span(tokens: np.ndarray, vocab: Vocab = VOCAB) -> list[tuple[int, int] | None]:
    """(lowest, highest) onset pitch per column, None for a silent column."""
    spans: list[tuple[int, int] | None] = []
    for v in range(tokens.shape[1]):
        col = tokens[:, v]
        ons = col[col >= vocab.onset_offset]
        spans.append(None if len(ons) == 0 else (int(ons.min()) - vocab.onset_offset + vocab.pitch_min,
                                                  int(ons.max()) - vocab.onset_offset + vocab.pitch_min))
    return spans


def fits_ranges(tokens: np.ndarray, voices: Sequence[Voice] = VOICES, shift: int = 0) -> bool:
    for span, voice in zip(pitch_span(tokens), voices):
        if span is not None and (span[0] + shift < voice.low or span[1] + shift > voice.high):
            return False
    return True


def valid_shifts(tokens: np.ndarray, voices: Sequence[Voice] = VOICES) -> list[int]:
    return [s for s in SHIFTS if fits_ranges(tokens, voices, s)]


def write_midi(path: str | os.PathLike[str], voices_notes: Sequence[Sequence[tuple[int, int, int]]],
               bpm: float = 80.0, steps_per_beat: int = STEPS_PER_BEAT) -> None:
    """Debug helper: one MIDI track and channel per voice (uses mido; imported lazily)."""
    import mido

    ticks_per_step = 480 // steps_per_beat
    mid = mido.MidiFile(ticks_per_beat=480)
    for ch, notes in enumerate(voices_notes):
        track = mido.MidiTrack()
        if ch == 0:
            track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
        events = sorted([(s * ticks_per_step, 1, p) for s, _, p in notes] + [(e * ticks_per_step, 0, p) for _, e, p in notes])
        now = 0
        for tick, on, pitch in events:
            kind = "note_on" if on else "note_off"
            track.append(mido.Message(kind, note=pitch, velocity=80 if on else 0, channel=ch, time=tick - now))
            now = tick
        mid.tracks.append(track)
    mid.save(os.fspath(path))


# ---------------------------------------------------------------------------------------------
# music21 -> Piece


def corpus_paths() -> list[Path]:
    from music21 import corpus

    return sorted((Path(p) for p in corpus.getComposer("bach")), key=lambda p: p.name)


def _looks_satb(parts: Sequence[Any]) -> bool:
    names = [str(p.partName or p.id or "").strip().lower() for p in parts]
    if all(any(n.startswith(w) for w in words) for n, words in zip(names, _SATB_WORDS)):
        return True
    # unnamed parts: accept if their mean pitches are in S > A > T > B order
    means = []
    for p in parts:
        ps = [n.pitch.midi for n in p.flatten().notes if hasattr(n, "pitch")]
        means.append(np.mean(ps) if ps else -1)
    return all(a > b for a, b in zip(means, means[1:]))


def satb_voices(parts: Sequence[Any]) -> list[Any] | None:
    """The four sung voices of a score: its 4 parts if they look like S/A/T/B; in a larger score (voices
    next to instruments), the one part per voice whose name's first word names that voice; else None."""
    if len(parts) == 4:
        return list(parts) if _looks_satb(parts) else None
    chosen = []
    for words in _SATB_WORDS:
        named = [p for p in parts if (str(p.partName or p.id or "").strip().lower().split() or [""])[0] in words]
        if len(named) != 1:
            return None
        chosen.append(named[0])
    return chosen


def _measure_grid(part: Any) -> list[tuple[float, float, float]]:
    """(offset, padding_left, bar_quarters) for each measure of `part`, in quarters."""
    from music21 import meter

    grid = []
    ts = meter.TimeSignature("4/4")
    measures = list(part.getElementsByClass("Measure"))
    for i, m in enumerate(measures):
        if m.timeSignature is not None:
            ts = m.timeSignature
        bar = float(ts.barDuration.quarterLength)
        pad = float(m.paddingLeft or 0.0)
        # A pickup bar without padding info: it is short, so it ends on the downbeat of the next bar.
        if i == 0 and pad == 0.0 and 0 < float(m.duration.quarterLength) < bar and len(measures) > 1:
            pad = bar - float(m.duration.quarterLength)
        grid.append((float(m.offset), pad, bar))
    return grid


def positions(grid: Sequence[tuple[float, float, float]], n_steps: int, steps_per_beat: int = STEPS_PER_BEAT,
              max_beats: int = MAX_BEATS_IN_BAR) -> np.ndarray:
    """[n_steps, 2] (step_in_beat, beat_in_bar) from measure offsets/paddings (handles anacrusis)."""
    out = np.zeros((n_steps, 2), dtype=np.int64)
    offsets = [g[0] for g in grid]
    m = 0
    for s in range(n_steps):
        q = s / steps_per_beat
        while m + 1 < len(grid) and offsets[m + 1] <= q + 1e-9:
            m += 1
        in_bar = int(round((q - grid[m][0] + grid[m][1]) * steps_per_beat))
        in_bar = max(in_bar, 0)
        out[s, 0] = in_bar % steps_per_beat
        out[s, 1] = min(in_bar // steps_per_beat, max_beats - 1)
    return out


def _voice_notes(part: Any, voice_index: int, notes_log: list[str], name: str) -> list[tuple[int, int, int]]:
    """(start_step, end_step, pitch) of one part; ties merged; chords reduced (top note; bass: bottom)."""
    out = []
    for n in part.flatten().stripTies().notes:
        if n.duration.isGrace or n.quarterLength == 0:
            continue
        if n.isChord:
            ps = sorted(p.midi for p in n.pitches)
            pitch = ps[0] if voice_index == 3 else ps[-1]
            notes_log.append(f"{name}: chord {[str(p) for p in n.pitches]} in {VOICES[voice_index].name} "
                             f"at quarter {float(n.offset)}: kept {pitch}")
        else:
            pitch = n.pitch.midi
        start = int(round(float(n.offset) * STEPS_PER_BEAT))
        end = int(round(float(n.offset + n.quarterLength) * STEPS_PER_BEAT))
        if end <= start:
            notes_log.append(f"{name}: note shorter than a 16th dropped in {VOICES[voice_index].name}")
            continue
        out.append((start, end, pitch))
    return out


def source_notes(score: Any) -> list[list[tuple[int, int, int]]]:
    """The notes of the four voices of a parsed score, for the round-trip test."""
    return source_notes_of(score.parts)


def source_notes_of(parts: Sequence[Any]) -> list[list[tuple[int, int, int]]]:
    return [_voice_notes(p, i, [], "") for i, p in enumerate(parts)]


def parse_piece(path: Path, notes_log: list[str] | None = None) -> Piece:
    """Parse one corpus file into a Piece; raises PieceError with the reason it cannot be used."""
    from music21 import converter

    notes_log = notes_log if notes_log is not None else []
    try:
        score = converter.parse(path)
    except Exception as exc:  # music21 raises many kinds on odd files; the reason is reported
        raise PieceError(f"unparsable ({type(exc).__name__})") from None
    all_parts = list(getattr(score, "parts", []))
    parts = satb_voices(all_parts)
    if parts is None and len(all_parts) == 4:
        raise PieceError("4 parts that do not look like S/A/T/B")
    if parts is None:
        raise PieceError(f"{len(all_parts)} parts, not 4 named S/A/T/B")
    grid = _measure_grid(parts[0])
    if not grid:
        raise PieceError("no measures")
    voices = [_voice_notes(p, i, notes_log, path.name) for i, p in enumerate(parts)]
    if any(not v for v in voices):
        raise PieceError("a voice has no notes")
    n_steps = max(end for v in voices for _, end, _ in v)
    for v, voice in zip(voices, VOICES):
        lo, hi = min(p for *_, p in v), max(p for *_, p in v)
        if lo < voice.low or hi > voice.high:
            raise PieceError(f"{voice.name} range [{lo}, {hi}] outside [{voice.low}, {voice.high}]")
    tokens = np.stack([notes_to_tokens(v, n_steps) for v in voices], axis=1)
    return Piece(path.name, tokens, positions(grid, n_steps))


# ---------------------------------------------------------------------------------------------
# splits


def melody_keys(tokens: np.ndarray, n_head: int = 8, n_tail: int = 12) -> list[str]:
    """Keys identifying a chorale tune from its soprano: its first n_head and its last n_tail intervals
    between successive different pitches (transposition-invariant, robust to rhythm changes). The tail
    key catches a tune whose opening was varied; it is longer because short endings are common
    cadence formulas that would chain unrelated tunes together."""
    pitches = [p for *_, p in tokens_to_notes(tokens[:, 0])]
    merged = [p for i, p in enumerate(pitches) if i == 0 or p != pitches[i - 1]]
    iv = [b - a for a, b in zip(merged, merged[1:])]
    return ["head:" + ",".join(map(str, iv[:n_head])), "tail:" + ",".join(map(str, iv[-n_tail:]))]


def group_pieces(keys: dict[str, list[str]]) -> dict[str, str]:
    """Union pieces that share any melody key; returns piece name -> group name (its first member)."""
    parent = {name: name for name in keys}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    owner: dict[str, str] = {}
    for name in sorted(keys):
        for k in keys[name]:
            if k in owner:
                a, b = find(owner[k]), find(name)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[k] = name
    return {name: find(name) for name in keys}


def assign_splits(groups: dict[str, str]) -> dict[str, list[str]]:
    """Whole groups go to train/valid/test (80/10/10) by a stable hash of the group name."""
    out: dict[str, list[str]] = {s: [] for s in SPLIT_NAMES}
    for name in sorted(groups):
        h = int(hashlib.sha256(groups[name].encode()).hexdigest()[:8], 16) % 100
        out["train" if h < 80 else "valid" if h < 90 else "test"].append(name)
    return out


def read_splits(directory: Path = SPLITS_DIR) -> dict[str, list[str]]:
    out = {}
    for s in SPLIT_NAMES:
        path = directory / f"{s}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: split list missing (run `sideman data --write-splits`)")
        out[s] = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return out


def splits_hash(splits: dict[str, list[str]]) -> str:
    text = json.dumps({s: sorted(v) for s, v in splits.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# building and caching


def cache_dir() -> Path:
    return Path(os.environ.get("SIDEMAN_CACHE", Path.home() / ".cache" / "sideman"))


def code_key(extra: str = "") -> str:
    import music21

    src = Path(__file__).read_bytes()
    return hashlib.sha256(src + music21.VERSION_STR.encode() + extra.encode()).hexdigest()[:16]


def _parse_all(paths: Sequence[Path], progress: bool) -> tuple[list[Piece], dict[str, str], list[str]]:
    from tqdm import tqdm

    pieces, dropped, notes_log = [], {}, []
    for path in tqdm(paths, desc="parsing chorales", unit="piece", disable=not progress):
        try:
            pieces.append(parse_piece(path, notes_log))
        except PieceError as exc:
            dropped[path.name] = str(exc)
    return pieces, dropped, notes_log


def _save(path: Path, pieces: list[Piece], report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(p.tokens) for p in pieces], dtype=np.int64)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")  # several processes may build it
    np.savez_compressed(
        tmp,
        names=np.array([p.name for p in pieces], dtype=str),
        lengths=lengths,
        tokens=np.concatenate([p.tokens for p in pieces]).astype(np.int16) if pieces else np.zeros((0, 4), np.int16),
        position=np.concatenate([p.position for p in pieces]).astype(np.int8) if pieces else np.zeros((0, 2), np.int8),
        report=np.array(json.dumps(report)),
    )
    os.replace(tmp, path)


def _load(path: Path) -> tuple[list[Piece], dict[str, Any]]:
    with np.load(path, allow_pickle=False) as z:
        bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
        tokens, position = z["tokens"].astype(np.int64), z["position"].astype(np.int64)
        pieces = [Piece(str(n), tokens[a:b], position[a:b]) for n, a, b in zip(z["names"], bounds[:-1], bounds[1:])]
        return pieces, json.loads(str(z["report"]))


def build_corpus(progress: bool = True, refresh: bool = False) -> tuple[list[Piece], dict[str, Any]]:
    """Every usable chorale (original key) plus the report of what was dropped and why; cached."""
    path = cache_dir() / f"chorales-{code_key()}.npz"
    if path.is_file() and not refresh:
        return _load(path)
    paths = corpus_paths()
    pieces, dropped, notes_log = _parse_all(paths, progress)
    report = {"files": len(paths), "kept": len(pieces), "dropped": dropped, "notes": notes_log}
    _save(path, pieces, report)
    return pieces, report


def load_dataset(limit: int | None = None, progress: bool = True, splits_dir: Path = SPLITS_DIR) -> Dataset:
    """Pieces of each committed split. With `limit`, parse only about `limit` pieces (most from train,
    at least one valid and one test) without touching the full-corpus cache: for quick runs and CI."""
    splits = read_splits(splits_dir)
    if limit is None:
        pieces, report = build_corpus(progress)
        by_name = {p.name: p for p in pieces}
        missing = sorted(n for names in splits.values() for n in names if n not in by_name)
        if missing:
            raise FileNotFoundError(f"{len(missing)} split pieces were not parsed (e.g. {missing[0]}); "
                                    "regenerate the splits with `sideman data --write-splits`")
        chosen = {s: [by_name[n] for n in names] for s, names in splits.items()}
    else:
        n_small = max(1, limit // 10)
        wanted = {"train": splits["train"][: max(1, limit - 2 * n_small)],
                  "valid": splits["valid"][:n_small], "test": splits["test"][:n_small]}
        key = code_key(json.dumps(wanted, sort_keys=True))
        path = cache_dir() / f"chorales-limit{limit}-{key}.npz"
        if path.is_file():
            pieces, report = _load(path)
        else:
            root = corpus_paths()[0].parent
            names = [n for s in SPLIT_NAMES for n in wanted[s]]
            pieces, dropped, notes_log = _parse_all([root / n for n in names], progress)
            report = {"files": len(names), "kept": len(pieces), "dropped": dropped, "notes": notes_log}
            _save(path, pieces, report)
        by_name = {p.name: p for p in pieces}
        chosen = {s: [by_name[n] for n in names if n in by_name] for s, names in wanted.items()}
    report = {**report, "splits_hash": splits_hash(splits), "limit": limit,
              "split_sizes": {s: len(v) for s, v in chosen.items()},
              "split_steps": {s: int(sum(len(p.tokens) for p in v)) for s, v in chosen.items()}}
    return Dataset(chosen, report)


def augmented(pieces: Sequence[Piece]) -> list[Piece]:
    """Each piece in every shift of [-6, +6] that keeps all voices in range (training only)."""
    out = []
    for p in pieces:
        for s in valid_shifts(p.tokens):
            out.append(Piece(p.name if s == 0 else f"{p.name}{s:+d}", transpose(p.tokens, s), p.position))
    return out


def make_splits(pieces: Sequence[Piece], keep: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Splits by melody group. With `keep` (the committed splits), every piece already in it stays where
    it is and a new piece joins the split of a known piece of its tune group, so that no tune crosses
    splits; only new pieces of new tunes are assigned by hash."""
    groups = group_pieces({p.name: melody_keys(p.tokens) for p in pieces})
    fresh = assign_splits(groups)
    if keep is None:
        return fresh
    where = {n: s for s, names in keep.items() for n in names}
    group_split = {groups[n]: where[n] for n in groups if n in where}
    out = {s: list(names) for s, names in keep.items()}
    for s, names in fresh.items():
        for n in names:
            if n not in where:
                out[group_split.get(groups[n], s)].append(n)
    return {s: sorted(v) for s, v in out.items()}


# ---------------------------------------------------------------------------------------------
# CLI: sideman data


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--write-splits", action="store_true",
                        help="regroup the corpus by melody and rewrite models/splits/{train,valid,test}.txt")
    parser.add_argument("--extend-splits", action="store_true",
                        help="add newly usable pieces to models/splits, keeping every listed piece where it is")
    parser.add_argument("--refresh", action="store_true", help="re-parse the corpus even if cached")
    parser.add_argument("--verbose", action="store_true", help="list every dropped piece and chord note")


def cmd_data(args: argparse.Namespace) -> int:
    pieces, report = build_corpus(progress=True, refresh=args.refresh)
    reasons: dict[str, int] = {}
    for why in report["dropped"].values():
        kind = why.split(" [")[0] if "range" not in why else why.split(" range")[0] + " out of range"
        reasons[kind] = reasons.get(kind, 0) + 1
    print(f"corpus files: {report['files']}, kept: {report['kept']}, dropped: {len(report['dropped'])}")
    for kind, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  dropped {n:4d}: {kind}")
    print(f"chord/short-note notes: {len(report['notes'])}")
    if args.verbose:
        for name, why in sorted(report["dropped"].items()):
            print(f"  {name}: {why}")
        for line in report["notes"]:
            print(f"  {line}")
    if args.write_splits or args.extend_splits:
        splits = make_splits(pieces, keep=read_splits() if args.extend_splits else None)
        SPLITS_DIR.mkdir(exist_ok=True)
        for s, names in splits.items():
            (SPLITS_DIR / f"{s}.txt").write_text("".join(n + "\n" for n in names))
        print(f"wrote {SPLITS_DIR}/{{train,valid,test}}.txt")
    splits = read_splits()
    by_name = {p.name: p for p in pieces}
    n_groups = len(set(group_pieces({p.name: melody_keys(p.tokens) for p in pieces}).values()))
    print(f"melody groups: {n_groups}; splits hash {splits_hash(splits)}")
    for s, names in splits.items():
        got = [by_name[n] for n in names if n in by_name]
        steps = sum(len(p.tokens) for p in got)
        extra = ""
        if s == "train":
            aug = sum(len(valid_shifts(p.tokens)) for p in got)
            extra = f", {aug} with transpositions ({sum(len(p.tokens) * len(valid_shifts(p.tokens)) for p in got)} steps)"
        print(f"  {s:5s}: {len(got)} pieces, {steps} steps{extra}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m sideman.models.data ...` = `sideman data ...` (before the CLI is installed)."""
    parser = argparse.ArgumentParser(prog="sideman data")
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = ["data", *(sys.argv[1:] if argv is None else argv)]
    return cmd_data(args)


if __name__ == "__main__":
    sys.exit(main())
