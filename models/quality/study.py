"""The study: accompanists side by side on a tune set, one table, written into docs/accompaniment.md.

An accompanist joins a table as an `Entry` (a name, a function (tune, seed) -> Parts, its seeds); a row
is the mean over its seeds of the rates of its counts summed over the tunes. `sweep` runs one
accompanist family over a grid of settings (choose settings on the valid sets, report on test).

    python3 -m sideman.models.quality --set folk-test --limit 30
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from sideman.bridge.config import LISTENER_CHOICES
from sideman.models.quality.accompanists import (Accompanist, causal_harmonizer, human, offline_harmonizer,
                                                 tonic_triad)
from sideman.models.quality.grid import Tune
from sideman.models.quality.measures import COLUMNS, Counts, measure, rates
from sideman.models.quality.tunes import DEFAULT_LIMIT, SETS, load_set

DOC = Path(__file__).resolve().parents[2] / "docs" / "accompaniment.md"
DEFAULT_SEEDS = (0, 1, 2)
COMMAND = "python3 -m sideman.models.quality"


@dataclass(frozen=True)
class Entry:
    name: str
    play: Accompanist
    seeds: tuple[int, ...] = (0,)  # deterministic accompanists need one


@dataclass(frozen=True)
class Row:
    name: str
    rates: dict[str, float]  # mean over seeds
    seeds: tuple[int, ...]
    seconds: float


def counts_of(tunes: Sequence[Tune], play: Accompanist, seed: int) -> Counts:
    total = Counts()
    for tune in tunes:
        total = total + measure(tune, play(tune, seed))
    return total


def run(tunes: Sequence[Tune], entry: Entry) -> Row:
    start = time.monotonic()
    per_seed = [rates(counts_of(tunes, entry.play, s)) for s in entry.seeds]
    with np.errstate(all="ignore"):
        mean = {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0]}
    return Row(entry.name, mean, entry.seeds, time.monotonic() - start)


def table(tunes: Sequence[Tune], entries: Sequence[Entry], progress: bool = False) -> list[Row]:
    rows = []
    for entry in entries:
        rows.append(run(tunes, entry))
        if progress:
            print(f"  {entry.name}: {rows[-1].seconds:.1f} s", file=sys.stderr, flush=True)
    return rows


def sweep(tunes: Sequence[Tune], make: Callable[[Any], Accompanist], grid: Sequence[Any],
          seeds: Sequence[int] = DEFAULT_SEEDS, name: str = "setting") -> list[Row]:
    """One row per setting of `grid`: `make(setting)` builds the accompanist, e.g.
    `sweep(load_set("folk-valid"), lambda s: EngineAccompanist(settings={"key_strength": s}), [0, 1, 2])`."""
    return [run(tunes, Entry(f"{name}={g}", make(g), tuple(seeds))) for g in grid]


def _deaf() -> dict[str, Any]:
    from sideman.bridge.core.harmony import HarmonyStrengths

    return {"harmony": HarmonyStrengths(), "listen_beats": 0}


DEAF = _deaf()  # the engine as it was before it heard: no harmony bias, no listening first


def _alone(model_path: Path | None) -> str:
    """What a network hears without the engine's harmony bias: nothing, or the key if its graph reads it."""
    import onnx

    from sideman.bridge.engines import DEFAULT_MODEL

    graph = onnx.load(str(model_path or DEFAULT_MODEL), load_external_data=False).graph
    return "hearing the key, its input" if any(i.name == "key_probs" for i in graph.input) else "hearing nothing"


def default_entries(set_name: str, model_path: Path | None = None, seeds: Sequence[int] = DEFAULT_SEEDS,
                    engine_settings: dict[str, Any] | None = None, listener: str | None = None) -> list[Entry]:
    from sideman.models.quality.engine_row import EngineAccompanist

    model_name = model_path.name if model_path else "shipped chorale-gru.onnx"
    model_name += "".join(f", {k}={v}" for k, v in (engine_settings or {}).items())
    hearing_name = model_name + ("" if listener is None else f", listener={listener}")
    people = "human (Nottingham's chords)" if set_name.startswith("folk") else "Bach (alto, tenor, bass)"
    return [
        Entry("sustained tonic triad", tonic_triad),
        Entry("causal rule-based harmonizer", causal_harmonizer),
        Entry("offline rule-based harmonizer", offline_harmonizer),
        Entry(f"the model alone ({model_name}, {_alone(model_path)})", EngineAccompanist(model_path, {**DEAF, **(engine_settings or {})}),
              tuple(seeds)),
        Entry(f"the model hearing key, chord and tune ({hearing_name}, the config's defaults)",
              EngineAccompanist(model_path, dict(engine_settings or {}), listener), tuple(seeds)),
        Entry(people, human),
    ]


def _cell(value: float, percent: bool) -> str:
    if np.isnan(value):
        return "–"
    return f"{100 * value:.1f}%" if percent else f"{value:.2f}"


def format_table(rows: Sequence[Row]) -> str:
    head = "| accompanist | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    body = ["| " + r.name + " | " + " | ".join(_cell(r.rates[k], pct) for k, _, pct in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def section(title: str, tunes: Sequence[Tune], rows: Sequence[Row], argv: Sequence[str], seeds: Sequence[int]) -> str:
    """The markdown of one table; `title` (the set, plus any variant) also names the section in the doc."""
    steps = sum(t.end for t in tunes)
    bars = sum(t.end / t.meter.bar_steps for t in tunes)
    return "\n".join([
        f"<!-- quality:{title} -->",
        f"### {title}",
        "",
        f"{datetime.date.today().isoformat()}: `{COMMAND} {' '.join(argv)}` — {len(tunes)} tunes, "
        f"{bars:.0f} bars, {steps} steps; model rows: mean over seeds {', '.join(map(str, seeds))}.",
        "",
        format_table(rows),
        f"<!-- /quality:{title} -->",
    ])


DOC_HEAD = "# Accompaniment quality\n\n## Tables\n"


def write_section(text: str, title: str, path: Path = DOC) -> None:
    """Put `text` in place of the previous section of that title in `path` (or append it)."""
    old = path.read_text() if path.is_file() else DOC_HEAD
    pattern = re.compile(rf"<!-- quality:{re.escape(title)} -->.*?<!-- /quality:{re.escape(title)} -->", re.S)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def main(argv: Sequence[str] | None = None) -> int:
    from sideman.bridge.errors import SidemanError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=COMMAND, description="accompanists side by side on a tune set")
    parser.add_argument("--set", choices=SETS, default="folk-test", help="tune set (default folk-test)")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                        help=f"tunes, spread evenly over the split (default {DEFAULT_LIMIT}; 0 = all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="seeds of the model rows")
    parser.add_argument("--model", type=Path, help="ONNX model for the model row (default: the shipped one)")
    parser.add_argument("--temperature", type=float, help="sampling temperature of the model row (default: the engine's)")
    parser.add_argument("--listener", choices=LISTENER_CHOICES,
                        help="the ears of the model hearing (default: the config's [engine] listener)")
    parser.add_argument("--pickup-as-downbeat", action="store_true",
                        help="feed every tune from its first note as if it were a downbeat (as a player without a "
                             "clock would); the measures' beats move with it")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"markdown file to write the table into (default {DOC})")
    parser.add_argument("--no-doc", action="store_true", help="print the table only")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    try:
        if args.limit < 0:
            raise SidemanError(f"--limit {args.limit}: give a number of tunes, or 0 for all")
        if args.temperature is not None and not args.temperature > 0:
            raise SidemanError(f"--temperature {args.temperature:g}: give a temperature above 0")
        engine = {} if args.temperature is None else {"temperature": args.temperature}
        tunes = load_set(args.set, args.limit or None, align=not args.pickup_as_downbeat)
        print(f"{args.set}: {len(tunes)} tunes", file=sys.stderr)
        rows = table(tunes, default_entries(args.set, args.model, args.seeds, engine, args.listener), progress=True)
    except SidemanError as exc:
        print(f"sideman: error: {exc}", file=sys.stderr)
        return exc.exit_code
    title = args.set + (", pickup as downbeat" if args.pickup_as_downbeat else "")
    title += "" if args.temperature is None else f", T={args.temperature:g}"
    title += "" if args.listener is None else f", listener={args.listener}"
    text = section(title, tunes, rows, argv, args.seeds)
    print(text)
    if not args.no_doc:
        write_section(text, title, args.doc)
        print(f"wrote {args.doc}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([{"name": r.name, "seeds": list(r.seeds), **r.rates} for r in rows], indent=1))
    return 0
