"""The prompt study: slot precision, recall and F1 of the parser and of a keyword-spotting baseline.

    python3 -m sideman.bridge.prompt.evaluate     # from a checkout: reads the sets of tests/data/,
                                                   # prints the tables and writes them into docs/prompts.md

A setting counts once per prompt: right (a true positive), wrong (a false positive and a false negative),
named but not expected (false positive) or expected but missing (false negative). Parts compare as
sets. Each word of `not_understood` counts on its own. Overall is the micro average over every slot.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sideman.bridge.errors import ConfigError, SidemanError
from sideman.bridge.prompt.baseline import keyword_spot
from sideman.bridge.prompt.parse import parse_prompt
from sideman.bridge.prompt.settings import SLOTS, PromptSettings

CHECKOUT = Path(__file__).resolve().parents[2]
DATA = CHECKOUT / "tests" / "data"
# The sets the study reads, with what each is: the first was fixed before the parser was written and then
# tuned on, the second written after that tuning and then tuned on too, the third never tuned on.
SETS = ((DATA / "prompts.jsonl", "written before the parser, then tuned on"),
        (DATA / "prompts-fresh.jsonl", "written after the first tuning, then tuned on"),
        (DATA / "prompts-unseen.jsonl", "written before the second tuning, never tuned on"))
DEFAULT_DOC = CHECKOUT / "docs" / "prompts.md"
START, END = "<!-- evaluation:start -->", "<!-- evaluation:end -->"
SCORED = (*SLOTS, "not_understood")

Parser = Callable[[str, PromptSettings | None], PromptSettings]


@dataclass(frozen=True)
class Case:
    text: str
    current: PromptSettings | None
    expected: dict


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_cases(path: Path) -> list[Case]:
    """The evaluation set: one JSON object a line, {"text", "current" (optional), "expected"}."""
    cases = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the prompt set ({exc.strerror or exc})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            current = row.get("current")
            if current is not None and "parts" in current:
                current = current | {"parts": tuple(current["parts"])}
            cases.append(Case(row["text"], PromptSettings(**current) if current else None, row["expected"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{n}: not a prompt case ({exc})") from None
    return cases


def _same(slot: str, got, want) -> bool:
    if slot == "parts":
        return set(got) == set(want)
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return abs(got - want) < 1e-6
    return got == want


def score(got: PromptSettings, expected: dict) -> dict[str, Counts]:
    """Per slot, the counts of one prompt."""
    out = {}
    for slot in SLOTS:
        value, want = getattr(got, slot), expected.get(slot)
        right = value is not None and want is not None and _same(slot, value, want)
        out[slot] = Counts(int(right), int(value is not None and not right), int(want is not None and not right))
    have = Counter(w.lower() for w in got.not_understood)
    want_words = Counter(w.lower() for w in expected.get("not_understood", ()))
    both = sum((have & want_words).values())
    out["not_understood"] = Counts(both, sum(have.values()) - both, sum(want_words.values()) - both)
    return out


@dataclass(frozen=True)
class Result:
    per_slot: dict[str, Counts]
    overall: Counts
    misses: list[tuple[str, str, object, object]]  # (text, slot, got, expected)


def evaluate(cases: Iterable[Case], parser: Parser) -> Result:
    per_slot = {slot: Counts() for slot in SCORED}
    misses = []
    for case in cases:
        got = parser(case.text, case.current)
        for slot, counts in score(got, case.expected).items():
            per_slot[slot].add(counts)
            if counts.fp or counts.fn:
                misses.append((case.text, slot, getattr(got, slot) if slot in SLOTS else list(got.not_understood),
                               case.expected.get(slot, [] if slot == "not_understood" else None)))
    overall = Counts()
    for counts in per_slot.values():
        overall.add(counts)
    return Result(per_slot, overall, misses)


def table(parser: Result, baseline: Result, n_cases: int, name: str, about: str) -> str:
    def cells(c: Counts) -> str:
        return f"{c.precision:.2f} | {c.recall:.2f} | {c.f1:.2f}"

    lines = [f"### {name}: {n_cases} prompts, {about}", "",
             "| slot | expected | parser P | R | F1 | keywords P | R | F1 |", "|---|---|---|---|---|---|---|---|"]
    for slot in SCORED:
        p, b = parser.per_slot[slot], baseline.per_slot[slot]
        lines.append(f"| {slot} | {p.tp + p.fn} | {cells(p)} | {cells(b)} |")
    p, b = parser.overall, baseline.overall
    lines.append(f"| **overall (micro)** | {p.tp + p.fn} | {cells(p)} | {cells(b)} |")
    lines += ["", f"The parser's misses ({len(parser.misses)}):", ""]
    lines += [f"- \"{text}\": {slot} {_show(got)}, expected {_show(want)}" for text, slot, got, want in parser.misses]
    return "\n".join(lines)


def _show(value) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False)


def write_doc(doc: Path, body: str) -> None:
    text = doc.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{START}\n{body}\n{END}{tail}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m sideman.bridge.prompt.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--set", type=Path, help="one set of prompt cases (default: the sets of the checkout's tests/data/)")
    p.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="the page whose evaluation section is rewritten (default: docs/prompts.md)")
    p.add_argument("--no-write", action="store_true", help="print the table only")
    args = p.parse_args(argv)
    sets = ((args.set, "given with --set"),) if args.set else SETS
    tables = []
    for path, about in sets:
        try:
            cases = load_cases(path)
        except SidemanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        tables.append(table(evaluate(cases, parse_prompt), evaluate(cases, keyword_spot), len(cases), path.name, about))
    body = "\n\n".join(["Run: `python3 -m sideman.bridge.prompt.evaluate` (P precision, R recall, F1 their harmonic mean; "
                         "keywords: the baseline, bridge/prompt/baseline.py).", *tables])
    print(body)
    if not args.no_write:
        write_doc(args.doc, body)
        print(f"\nwrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
