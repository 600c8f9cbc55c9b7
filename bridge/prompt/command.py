"""`sideman prompt TEXT`: show the settings a line of English asks for (docs/prompts.md)."""

from __future__ import annotations

import argparse

from sideman.bridge.prompt.parse import parse_prompt


def add_prompt_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Show the settings a line of English asks for, e.g. sideman prompt \"slow sad waltz in D minor, "
                     "just bass and chords\". The grammar and its words: docs/prompts.md.")
    p.add_argument("text", nargs="+", metavar="TEXT", help="the prompt (quotes optional)")
    p.add_argument("--json", action="store_true", help="print one JSON object with every setting (null: not named)")


def cmd_prompt(args: argparse.Namespace) -> int:
    settings = parse_prompt(" ".join(args.text))
    if args.json:
        print(settings.to_json())
    else:
        print("\n".join(settings.summary()))
    return 0
