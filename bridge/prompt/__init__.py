"""Prompts: English text to settings ("slow sad waltz in D minor, just bass and chords").

`parse_prompt(text, current=None) -> PromptSettings`; the grammar, its words and numbers are in
docs/prompts.md. This room imports only errors and config: the CLI, the offline renderer and the
live loop all read prompts through it.
"""

from sideman.bridge.prompt.parse import parse_prompt
from sideman.bridge.prompt.settings import SLOTS, PromptSettings

__all__ = ["SLOTS", "PromptSettings", "parse_prompt"]
