"""The prompt study: scoring, the baseline, and the parser's F1 on the fixed sets (a regression guard)."""

from __future__ import annotations

import json

import pytest

from sideman.bridge.errors import ConfigError
from sideman.bridge.prompt import PromptSettings, parse_prompt
from sideman.bridge.prompt.baseline import keyword_spot
from sideman.bridge.prompt.evaluate import END, SETS, START, Case, evaluate, load_cases, main, score
from tests.paths import REPO


def test_score_counts_right_wrong_extra_and_missing_settings():
    got = PromptSettings(tempo=72, meter="3/4", density=0.4, parts=("chords", "bass"), not_understood=("x", "y"))
    counts = score(got, {"tempo": 72, "meter": "6/8", "key": "D minor", "parts": ["bass", "chords"], "not_understood": ["y", "z"]})
    assert (counts["tempo"].tp, counts["tempo"].fp, counts["tempo"].fn) == (1, 0, 0)
    assert (counts["meter"].tp, counts["meter"].fp, counts["meter"].fn) == (0, 1, 1)  # wrong: both
    assert (counts["key"].tp, counts["key"].fp, counts["key"].fn) == (0, 0, 1)  # missing
    assert (counts["density"].tp, counts["density"].fp, counts["density"].fn) == (0, 1, 0)  # not expected
    assert counts["parts"].tp == 1  # parts compare as sets
    assert (counts["not_understood"].tp, counts["not_understood"].fp, counts["not_understood"].fn) == (1, 1, 1)


def test_micro_average_over_slots():
    cases = [Case("fast", None, {"tempo": 138}), Case("fast", None, {"tempo": 100, "meter": "3/4"})]
    result = evaluate(cases, parse_prompt)
    assert (result.overall.tp, result.overall.fp, result.overall.fn) == (1, 1, 2)
    assert result.overall.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert [m[:2] for m in result.misses] == [("fast", "tempo"), ("fast", "meter")]


def test_the_baseline_is_a_single_word_lookup():
    assert keyword_spot("slow sad waltz in Dm").named() == {"tempo": 72, "meter": "3/4", "key": "D minor", "mode": "minor"}
    got = keyword_spot("not fast, 120 bpm, a bit slower, no tenor")
    assert got.tempo == 138 and got.parts == ("tenor",)  # no negation, numbers or relatives
    assert keyword_spot("drums").not_understood == ("drums",)


@pytest.mark.parametrize("path, floor", [(SETS[0][0], 0.9), (SETS[1][0], 0.9), (SETS[2][0], 0.95)])
def test_the_parser_keeps_its_f1_on_the_fixed_sets_and_beats_the_baseline(path, floor):
    cases = load_cases(path)
    parser, baseline = evaluate(cases, parse_prompt), evaluate(cases, keyword_spot)
    assert parser.overall.f1 >= floor, parser.misses
    assert parser.overall.f1 > baseline.overall.f1 + 0.2


def test_the_first_set_has_at_least_100_prompts_with_every_setting():
    cases = load_cases(SETS[0][0])
    assert len(cases) >= 100 and len({(c.text, c.current) for c in cases}) == len(cases)
    slots = {slot for c in cases for slot in c.expected}
    assert slots >= {"tempo", "meter", "key", "mode", "style", "style_knob", "density", "register", "temperature",
                     "parts", "not_understood"}
    assert sum(1 for c in cases if c.current is not None) >= 20  # relative changes


def test_the_study_writes_its_tables_between_the_markers(tmp_path, capsys):
    doc = tmp_path / "prompts.md"
    doc.write_text(f"# head\n\n{START}\nold\n{END}\n\ntail\n", encoding="utf-8")
    cases = tmp_path / "set.jsonl"
    cases.write_text(json.dumps({"text": "fast waltz", "expected": {"tempo": 138, "meter": "3/4"}}) + "\n", encoding="utf-8")
    assert main(["--set", str(cases), "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# head\n") and text.endswith("\n\ntail\n") and "old" not in text
    assert "| **overall (micro)** | 2 | 1.00 | 1.00 | 1.00 |" in text
    assert "1.00 | 1.00 | 1.00" in capsys.readouterr().out


def test_the_doc_shows_the_current_tables(capsys):
    main(["--no-write"])
    printed = capsys.readouterr().out.strip()
    doc = (REPO / "docs" / "prompts.md").read_text(encoding="utf-8")
    assert printed == doc.split(START)[1].split(END)[0].strip()  # rerun the study after changing the parser


def test_a_bad_case_line_is_one_error_naming_the_line(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text('{"text": "fast", "expected": {}}\n{"text": "slow"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"set.jsonl:2: not a prompt case"):
        load_cases(path)


def test_the_unseen_set_is_scored_has_at_least_50_prompts_and_names_every_setting():
    assert SETS[2][0].name == "prompts-unseen.jsonl"
    cases = load_cases(SETS[2][0])
    assert len(cases) >= 50 and len({(c.text, c.current) for c in cases}) == len(cases)
    assert {slot for c in cases for slot in c.expected} >= {"tempo", "meter", "key", "mode", "style", "style_knob",
                                                             "density", "register", "temperature", "parts",
                                                             "not_understood"}
