"""Mood from a sentiment lexicon: VADER's, plus a few music words it lacks (docs/prompts.md, Mood)."""

from __future__ import annotations

from functools import cache

from sideman.bridge.errors import MissingDependencyError
from sideman.bridge.prompt.lexicon import AROUSAL, MOOD_THRESHOLD, MOOD_WORDS


@cache
def _analyzer():
    """VADER's analyzer with the music words added; loaded once, on the first prompt that needs it."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ModuleNotFoundError:
        raise MissingDependencyError("prompts need VADER's sentiment lexicon: pip install vaderSentiment") from None
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(MOOD_WORDS)
    return analyzer


def is_mood_word(word: str) -> bool:
    """True if the lexicon gives `word` (lower-case) a sentiment."""
    return word in MOOD_WORDS or word in AROUSAL or word in _analyzer().lexicon


def mood_sign(words: list[tuple[str, bool]]) -> int:
    """-1 sad, +1 happy, 0 neutral or no mood word: VADER's compound score of the words, each with its "not"."""
    if not words:
        return 0
    text = " ".join(f"not {w}" if negated else w for w, negated in words)
    compound = _analyzer().polarity_scores(text)["compound"]
    return -1 if compound <= -MOOD_THRESHOLD else 1 if compound >= MOOD_THRESHOLD else 0


def arousal_sign(words: list[tuple[str, bool]]) -> int | None:
    """-1 calm, +1 energetic, 0 a tie, None if no word of either list: the list with more words wins."""
    signs = [AROUSAL[w] * (-1 if negated else 1) for w, negated in words if w in AROUSAL]
    if not signs:
        return None
    total = sum(signs)
    return (total > 0) - (total < 0)
