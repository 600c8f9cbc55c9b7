"""Which 8ths carry the beat: evidence from the notes' rhythm and pitch, for the follower's phase.

A run of even 8ths fits the beat and the off-beat equally well in time; players and listeners tell them
apart by what the notes are. Each note placed on the follower's 8th grid is scored, once the notes up to
`LOOKAHEAD` 8ths after it have been heard, by a small network: from its length until the next onset, the
onsets around it, the leaps into and out of it, its and its neighbours' degrees in the key heard so far
and whether it opens the tune, the probability of each place it may have (on a quarter-note beat or
between two in 2/4, 3/4 or 4/4; or one of the six 8ths of a 6/8 bar, whose quarter-note beats follow the
bar). Each hypothesis of where the beats fall (a simple meter's beat on the even or odd 8ths, or a 6/8
bar starting on one of six) sums its notes' log-probabilities, less the places' log-priors (a likelihood
ratio, so the meters compete fairly); `llr` is the log-odds that the quarter-note beats are the even 8ths.

The network (bridge/assets/beat_phase.npz) is fitted by models/beat_phase.py on the Nottingham train tunes
through this module's own `PhaseEvidence`, so training and the bridge compute the same features. Pure
numpy; time never enters: the caller places each note on its grid.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sideman.bridge.core.key_profiles import KEY_TEMPLATES
from sideman.bridge.errors import ModelError

ASSET = Path(__file__).resolve().parent.parent / "assets" / "beat_phase.npz"
LOOKAHEAD = 3  # 8ths after a note heard (an onset at or past it) before the note is scored
BEHIND = 6  # 8ths before a note whose onsets it sees
LENGTH_BINS = 5  # a note's length in 8ths: 1, 2, 3, 4, 5 or more
LEAP_BINS = (0, 1, 3, 5, 8)  # smallest |interval| (semitones) of each leap bin
PRIOR_WEIGHT = 0.95  # chosen on the valid tunes (docs/tempo-following.md)
ON_EIGHTH = 0.25  # a note this close (share of an 8th) to an 8th of the grid is on it; others give no evidence
WINDOW = 64  # notes kept; the key uses every note heard


def _one_hot(i: int, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[min(max(i, 0), n - 1)] = 1.0
    return out


def _leap(interval: int | None) -> np.ndarray:
    """Leap size bin and direction; all zero when there is no neighbour."""
    if interval is None:
        return np.zeros(len(LEAP_BINS) + 1)
    size = sum(abs(interval) >= b for b in LEAP_BINS) - 1
    return np.append(_one_hot(size, len(LEAP_BINS)), np.sign(interval))


def features(ks: list[int], pitches: list[int], i: int, key: int | None, first: bool) -> np.ndarray:
    """The features of note i (8th index ks[i], pitch pitches[i]) given its neighbours; a later note exists."""
    length = ks[i + 1] - ks[i]
    before = ks[i] - ks[i - 1] if i > 0 else None
    heard = set(ks[max(0, i - BEHIND):i + LOOKAHEAD + 1])
    around = [float(ks[i] + d in heard) for d in (*range(-BEHIND, -1), *range(2, LOOKAHEAD + 1))]
    rhythm = np.outer(_one_hot(length - 1, LENGTH_BINS),
                      _one_hot(before - 1 if before else LENGTH_BINS, LENGTH_BINS + 1)).ravel()
    degrees = np.zeros((3, 12))  # the note's, the one before's, the one after's
    triad = tonic = 0.0
    if key is not None:
        for row, j in enumerate((i, i - 1, i + 1)):
            if j >= 0:
                degrees[row, (pitches[j] - key) % 12] = 1.0
        d = (pitches[i] - key) % 12
        third = 3 if key >= 12 else 4
        triad, tonic = float(d in (0, third, 7)), float(d == 0)
    into = pitches[i] - pitches[i - 1] if i > 0 else None
    out = pitches[i + 1] - pitches[i]
    short_leap = float(before == 1 and into is not None and abs(into) >= 5)  # a leap after a short note: a pickup
    turn = float(into is not None and into * out < 0)  # the melody turns on this note
    return np.concatenate([_one_hot(length - 1, LENGTH_BINS), _one_hot(before - 1 if before else LENGTH_BINS, LENGTH_BINS + 1),
                           rhythm, around, degrees.ravel(), [triad, tonic, float(first), short_leap, turn],
                           _leap(into), _leap(out)])


N_FEATURES = len(features([0, 1], [60, 62], 0, 0, True))


SIMPLE, COMPOUND = 2, 6  # 8ths a cycle: a simple meter's beat, a 6/8 bar
N_CLASSES = SIMPLE + COMPOUND  # a note's place: beat or off-beat of a simple meter, or one of 6/8's six 8ths
# The hypotheses: (8ths a cycle, the 8th index mod the cycle where a cycle starts).
HYPOTHESES = tuple((SIMPLE, o) for o in range(SIMPLE)) + tuple((COMPOUND, o) for o in range(COMPOUND))
# The hypotheses whose quarter-note beats fall on the even 8ths.
_EVEN = np.array([(cycle == SIMPLE and o == 0) or (cycle == COMPOUND and o % 2 == 0) for cycle, o in HYPOTHESES])


def place(k: int, hypothesis: tuple[int, int]) -> int:
    """The class of a note on 8th k under a hypothesis."""
    cycle, offset = hypothesis
    return (k - offset) % cycle + (0 if cycle == SIMPLE else SIMPLE)


@dataclass(frozen=True)
class PhaseModel:
    """One tanh hidden layer, then a softmax over the places."""

    hidden: np.ndarray  # [HIDDEN, N_FEATURES]
    hidden_bias: np.ndarray  # [HIDDEN]
    weights: np.ndarray  # [N_CLASSES, HIDDEN]
    bias: np.ndarray  # [N_CLASSES]
    prior: np.ndarray  # [N_CLASSES] how often each place came in training

    def evidence(self, f: np.ndarray, prior_weight: float) -> np.ndarray:
        """[N_CLASSES] how much likelier the note of features f is in each place than at large: the log
        posterior less `prior_weight` times the log prior (1: a likelihood ratio; a meter whose places are
        few would win on every note without it)."""
        z = self.weights @ np.tanh(self.hidden @ f + self.hidden_bias) + self.bias
        z = z - z.max()
        return z - np.log(np.exp(z).sum()) - prior_weight * np.log(self.prior)


@functools.lru_cache(maxsize=1)
def load_model(path: Path = ASSET) -> PhaseModel:
    """The model of a file written by models/beat_phase.py; a ModelError naming the file if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            model = PhaseModel(*(data[name].astype(np.float64) for name in PhaseModel.__dataclass_fields__))
    except (OSError, KeyError, ValueError) as e:
        raise ModelError(f"{path}: not a beat-phase model ({e})") from e
    if (model.hidden.shape != (len(model.hidden_bias), N_FEATURES) or model.weights.shape != (N_CLASSES, len(model.hidden_bias))
            or model.bias.shape != (N_CLASSES,) or model.prior.shape != (N_CLASSES,)):
        raise ModelError(f"{path}: hidden {model.hidden.shape}, weights {model.weights.shape}; this module computes "
                         f"{N_FEATURES} features and {N_CLASSES} places")
    return model


def key_of(histogram: np.ndarray) -> int | None:
    """The Krumhansl key (mode * 12 + tonic) best correlated with a pitch-class histogram; None before any note."""
    if not histogram.any():
        return None
    h = histogram - histogram.mean()
    return int(np.argmax(KEY_TEMPLATES @ h))


def _logsumexp(x: np.ndarray) -> float:
    m = float(x.max())
    return m + float(np.log(np.exp(x - m).sum()))


class PhaseEvidence:
    """The log-likelihood of each hypothesis of where the beats fall on the caller's 8th grid, and `llr`,
    the log-odds that the (quarter-note) beats are its even 8ths (see the module docstring)."""

    def __init__(self, model: PhaseModel | None = None, prior_weight: float = PRIOR_WEIGHT) -> None:
        self.model = model if model is not None else load_model()
        self.prior_weight = prior_weight
        self.scores = np.zeros(len(HYPOTHESES))
        self._ks: list[int] = []
        self._pitches: list[int] = []
        self._scored = 0  # notes of the window scored so far
        self._histogram = np.zeros(12)
        self._any_scored = False

    @property
    def llr(self) -> float:
        return _logsumexp(self.scores[_EVEN]) - _logsumexp(self.scores[~_EVEN])

    def add(self, k: int, pitch: int) -> list[tuple[int, np.ndarray]]:
        """A note on 8th k of the grid (k never decreasing); returns the (8th, features) of the notes this
        scored, whose log-probabilities it added to `scores`."""
        if self._ks and k <= self._ks[-1]:
            return []  # a chord or a grace on the same 8th: the first note counts
        self._ks.append(k)
        self._pitches.append(pitch)
        done = []
        while self._scored < len(self._ks) - 1 and self._ks[self._scored] + LOOKAHEAD <= k:
            i = self._scored
            self._histogram[self._pitches[i] % 12] += min(self._ks[i + 1] - self._ks[i], 4)
            f = features(self._ks, self._pitches, i, key_of(self._histogram), not self._any_scored)
            lp = self.model.evidence(f, self.prior_weight)
            self.scores += [lp[place(self._ks[i], h)] for h in HYPOTHESES]
            self._any_scored = True
            self._scored += 1
            done.append((self._ks[i], f))
        if len(self._ks) > WINDOW:
            drop = len(self._ks) - WINDOW
            del self._ks[:drop], self._pitches[:drop]
            self._scored -= drop
        return done

    def shift(self, eighths: int) -> None:
        """The caller's grid moved: what was 8th k is now 8th k - eighths (the hypotheses move with it)."""
        self._ks = [k - eighths for k in self._ks]
        index = {h: i for i, h in enumerate(HYPOTHESES)}
        moved = np.empty_like(self.scores)
        for i, (cycle, o) in enumerate(HYPOTHESES):
            moved[index[(cycle, (o - eighths) % cycle)]] = self.scores[i]
        self.scores = moved


def placed_evidence(notes: list[tuple[float, int]], zero: float, eighth: float, model: PhaseModel | None = None,
                    prior_weight: float = PRIOR_WEIGHT) -> PhaseEvidence:
    """The evidence of notes ((time, key), in time order) on the grid of 8ths `eighth` s apart whose 8th 0
    falls at time `zero`."""
    evidence = PhaseEvidence(model, prior_weight)
    for t, key in notes:
        position = (t - zero) / eighth
        if abs(position - round(position)) <= ON_EIGHTH:
            evidence.add(round(position), key)
    return evidence
