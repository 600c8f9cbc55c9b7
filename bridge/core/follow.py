"""Sideman's own grid, following the player: a beat tracker from note onsets. Pure logic — time is passed in.

Before the grid runs, the follower listens. Four taps of one key or of the sustain pedal, evenly spaced
(each gap within 15% of their mean), are a count-in: the gap is the beat and the song's first beat
falls one beat after the fourth tap. Otherwise, once it has heard a few notes (`FollowGains.acquire`,
more while it is unsure which 8ths are the beats), it takes the beat's period from their inter-onset
intervals (`initial_beat`), its phase from what the notes are (`beat_phase.PhaseEvidence`: lengths,
leaps, degrees in the key; a run of even 8ths fits the off-beat as well as the beat in time), and
joins the grid where it is.

Then an adaptive oscillator (a phase- and period-correcting loop, after Large & Kolen) follows the
player: each onset is placed on the nearest beat, 8th or 16th of the predicted grid, and moves the
grid's phase and period by its error, weighted by how close it is and by the level (an off-beat
corrects less than a beat). Rests and held notes give no onsets, so the period holds. Corrections are
bounded per beat, and the ticks themselves move at most `slew` of a step from the current period, so
the grid never jumps under the parts: every tick comes, in order, none skipped or repeated.

Started from the notes (not from a count-in, which gives the phase), it keeps weighing the phase: when
the other 8ths have become much likelier beats (`FollowGains.switch`), the grid is renumbered half a
beat later and the ticks reach it through the same slew.

`FollowClock` has the interface of `sideman.bridge.core.clock.InternalClock` (start, stop, due,
next_tick_time, running, bpm, step_seconds, next_step, hear), so the live loop drives either.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from sideman.bridge.core.beat_phase import ON_EIGHTH, PRIOR_WEIGHT, PhaseEvidence, PhaseModel, load_model, placed_evidence
from sideman.bridge.core.clock import PEDAL, Tick, Transport
from sideman.bridge.core.engine import handled_before_tick

COUNT_IN_TAPS = 4
COUNT_IN_TOLERANCE = 0.15  # each count-in gap within this share of their mean
MIN_BPM, MAX_BPM = 20.0, 300.0  # the config's tempo range
CHORD_SECONDS = 0.035  # onsets this close are one onset (a chord, a grace): the first one counts
FORGET_BEATS = 8  # a gap this long (beats of the expected tempo) before the grid runs starts the listening afresh


@dataclass(frozen=True)
class FollowGains:
    """How the follower listens and corrects; chosen on the valid tunes (docs/tempo-following.md)."""

    phase: float = 0.7  # share of an onset's error the grid's phase takes
    period: float = 0.15  # share of an onset's error (s) the beat period takes
    level_weights: tuple[float, float, float] = (1.0, 0.25, 0.1)  # beat, 8th, 16th: an off-beat corrects little
    closeness: float = 0.15  # error (share of the level's spacing) at which an onset's weight falls to e^-1/2
    max_phase: float = 0.08  # largest phase correction per beat (share of a beat)
    max_period: float = 0.03  # largest period correction per beat (share of the period)
    slew: float = 0.1  # a tick may come this share of a step early or late against the current period
    acquire: int = 8  # notes heard before the grid may start without a count-in
    acquire_max: int = 16  # notes after which it starts however unsure of the beat's phase it is
    acquire_beats: float = 12.0  # or once its first notes span this many beats of the expected tempo
    certainty: float = 0.9  # how sure of the phase it must be to start before acquire_max
    prior_octaves: float = 0.5  # how firmly the initial beat keeps near the configured tempo (octaves)
    place_prior: float = PRIOR_WEIGHT  # how much the phase evidence discounts a place's frequency (beat_phase.py)
    switch: float = 6.0  # log-odds for the other phase at which the running grid moves half a beat


def count_in_period(times: list[float]) -> float | None:
    """The beat of four evenly spaced taps (each gap within COUNT_IN_TOLERANCE of their mean), else None."""
    if len(times) != COUNT_IN_TAPS:
        return None
    gaps = [b - a for a, b in zip(times, times[1:])]
    mean = sum(gaps) / len(gaps)
    if not 60.0 / MAX_BPM <= mean <= 60.0 / MIN_BPM:
        return None
    if any(abs(g - mean) > COUNT_IN_TOLERANCE * mean for g in gaps):
        return None
    return mean


PERIODS = np.exp(np.linspace(math.log(60.0 / MAX_BPM), math.log(60.0 / 30.0), 241))  # beat periods tried (s)
LEVELS = ((1.0, 1.0), (0.5, 0.5), (0.25, 0.25))  # (share of the beat, weight): whole beats, halves, quarters


def _comb(iois: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """How well inter-onset intervals fit each beat period: a whole number of beats counts 1, of halves
    0.5, of quarters 0.25, each as close as the timing noise allows (one array op: it runs on the
    engine thread)."""
    sigma = np.maximum(0.025, 0.05 * iois)[None, :]
    best = np.zeros((len(periods), len(iois)))
    for share, weight in LEVELS:
        unit = periods[:, None] * share
        n = np.round(iois[None, :] / unit)
        fit = weight * np.exp(-0.5 * ((iois[None, :] - n * unit) / sigma) ** 2)
        best = np.maximum(best, np.where(n >= 1, fit, 0.0))
    return best.sum(axis=1)


def initial_beat(onsets: list[float], prior_period: float, gains: FollowGains = FollowGains()) -> tuple[float, float, float]:
    """(beat period, time of a beat, certainty) from the first onsets: every interval between near onsets
    votes for the beat periods it fits, weighted towards `prior_period` (the configured tempo picks the
    beat's level: 8ths or quarters); then the beat's phase and period are fitted to the onsets. Certainty
    (0..1): how much better that phase fits than the one half a beat away (a run of even 8ths fits both)."""
    iois = np.array([b - a for i, a in enumerate(onsets) for b in onsets[i + 1:i + 5] if 0.08 <= b - a <= 3.0])
    if not len(iois):
        return prior_period, onsets[0], 0.0
    prior = np.exp(-0.5 * (np.log2(PERIODS / prior_period) / gains.prior_octaves) ** 2)
    best = float(PERIODS[int(np.argmax(_comb(iois, PERIODS) * prior))])
    return _fit_grid(onsets, best)


def _fit_grid(onsets: list[float], period: float) -> tuple[float, float, float]:
    """The phase that puts the most onsets on beats (then 8ths), and the period and phase of a weighted
    least-squares line through the onsets on that grid; and the certainty of that phase."""
    # A note held longer than the others more likely begins a beat: each onset votes by its length.
    gaps = [b - a for a, b in zip(onsets, onsets[1:])]
    typical = sorted(gaps)[len(gaps) // 2] if gaps else period
    salience = [min(max(g / typical, 0.5), 4.0) for g in gaps] + [1.0]

    def placed(anchor: float) -> list[tuple[float, float, float]]:
        out = []  # (8th index, time, weight)
        for t, sal in zip(onsets, salience):
            k = round((t - anchor) / (period / 2))
            err = (t - anchor - k * period / 2) / (period / 2)
            weight = (sal if k % 2 == 0 else 0.5) * math.exp(-0.5 * (err / 0.15) ** 2)
            out.append((k, t, weight))
        return out

    def fit(anchor: float) -> float:
        return sum(w for _, _, w in placed(anchor))

    anchor = max(onsets, key=lambda a: (fit(a), -a))
    best = fit(anchor)
    certainty = (best - fit(anchor + period / 2)) / best if best > 0 else 0.0
    points = [p for p in placed(anchor) if p[2] > 0.05]
    total = sum(w for _, _, w in points)
    if len(points) < 3 or total <= 0:
        return period, anchor, certainty
    mk = sum(w * k for k, _, w in points) / total
    mt = sum(w * t for _, t, w in points) / total
    var = sum(w * (k - mk) ** 2 for k, _, w in points)
    if var <= 0:
        return period, anchor, certainty
    slope = sum(w * (k - mk) * (t - mt) for k, t, w in points) / var
    if not 0.8 * period <= 2 * slope <= 1.25 * period:
        return period, anchor, certainty
    return 2 * slope, mt - slope * mk, certainty


class FollowClock:
    """A 16th-note grid that follows the player's onsets (see the module docstring)."""

    name = "follow"

    def __init__(self, bpm: float, steps_per_beat: int = 4, *, count_in_only: bool = False,
                 gains: FollowGains = FollowGains(), phase_model: PhaseModel | None = None) -> None:
        """`bpm`: the expected tempo (the beat level to prefer, and the tempo until one is heard);
        `count_in_only`: start only from a count-in, never from the melody's first notes; `phase_model`:
        what tells a beat's note from an off-beat's (default: the shipped one, bridge/assets/beat_phase.npz)."""
        self.spb = steps_per_beat
        self.gains = gains
        self.count_in_only = count_in_only
        self.phase_model = phase_model if phase_model is not None else load_model()  # read now, not on a note
        self.step_seconds = 60.0 / (bpm * steps_per_beat)
        self.running = False
        self.next_step = 0
        self._heard: deque[tuple[float, object]] = deque(maxlen=max(gains.acquire_max, COUNT_IN_TAPS))
        self._anchor_t = 0.0  # the model grid: step _anchor_step falls at _anchor_t
        self._anchor_step = 0
        self._last_tick: float | None = None
        self._floor = -math.inf  # no tick before the last onset heard: it was handled already
        self._last_onset = -math.inf
        self._budget_t = -math.inf  # when the correction budget was last spent
        self._evidence: PhaseEvidence | None = None  # which 8ths carry the beat, on the model grid's 8ths

    @property
    def bpm(self) -> float:
        return 60.0 / (self.step_seconds * self.spb)

    # -- the InternalClock interface ------------------------------------------------------------
    def start(self, t: float, step: int = 0) -> Transport:
        """Run the grid from step `step` at time `t` at the current tempo."""
        self.running, self.next_step = True, step
        self._anchor_t, self._anchor_step = t, step
        self._last_tick, self._floor, self._budget_t, self._last_onset = None, t, t, t
        self._heard.clear()
        self._evidence = None
        return Transport("start", t, step)

    def stop(self, t: float) -> Transport:
        """Stop; the tempo heard so far is the one expected next time."""
        self.running = False
        self._heard.clear()
        return Transport("stop", t, self.next_step)

    def _model_time(self, step: float) -> float:
        return self._anchor_t + (step - self._anchor_step) * self.step_seconds

    def next_tick_time(self) -> float | None:
        if not self.running:
            return None
        # Not before the last onset heard (it was handled already), and never a jump: within `slew` of a step.
        t = max(self._model_time(self.next_step), self._floor)
        if self._last_tick is not None:
            q, slew = self.step_seconds, self.gains.slew
            t = min(max(t, self._last_tick + q * (1 - slew)), self._last_tick + q * (1 + slew))
        return t

    def due(self, now: float) -> Tick | None:
        """The next tick if its time has come (at most one per call: the caller loops)."""
        t = self.next_tick_time()
        if t is None or now < t:
            return None
        tick = Tick(self.next_step, t, self.step_seconds)
        self._last_tick = t
        self.next_step += 1
        return tick

    # -- listening -------------------------------------------------------------------------------
    def hear(self, t: float, source: object) -> Transport | None:
        """A note-on (`source` = its key) or a sustain-pedal press (PEDAL) at time t. Returns the start
        when this one starts the grid. A caller fires the ticks due before `t` first."""
        if self.running:
            if source != PEDAL:  # pedalling follows the notes; it marks no beat
                self._correct(t, source)
            return None
        if self._heard and t - self._heard[-1][0] > FORGET_BEATS * self.spb * self.step_seconds:
            self._heard.clear()
        if self._heard and source != PEDAL and t - self._heard[-1][0] < CHORD_SECONDS:
            return None
        self._heard.append((t, source))
        taps = list(self._heard)[-COUNT_IN_TAPS:]
        if len(taps) == COUNT_IN_TAPS and len({s for _, s in taps}) == 1:
            period = count_in_period([x for x, _ in taps])
            if period is not None:
                self.step_seconds = period / self.spb
                return self.start(t, -self.spb)  # the fourth tap is the count-in's last beat
        notes = [x for x, s in self._heard if s != PEDAL]
        g = self.gains
        long_enough = len(notes) >= COUNT_IN_TAPS and notes[-1] - notes[0] >= g.acquire_beats * self.spb * self.step_seconds
        if self.count_in_only or (len(notes) < g.acquire and not long_enough):
            return None
        period, beat, certainty = initial_beat(notes, self.step_seconds * self.spb, g)
        evidence = None
        if self.spb % 2 == 0:  # the phase evidence places notes on 8ths
            keyed = [(x, s) for x, s in self._heard if s != PEDAL]
            evidence = placed_evidence(keyed, beat, period / 2, self.phase_model, g.place_prior)
            if evidence.llr < 0:
                beat += period / 2
            certainty = math.tanh(abs(evidence.llr) / 2)
        if certainty < g.certainty and len(notes) < g.acquire_max and not long_enough:
            return None  # the notes so far fit the off-beat as well: listen on
        self.step_seconds = min(max(period, 60.0 / MAX_BPM), 60.0 / MIN_BPM) / self.spb
        # The first note's beat is the song's first: step 0 is the beat at or before it (a note a little
        # early for a beat is on it).
        first = beat + math.floor((notes[0] - beat) / self.step_seconds / self.spb + 0.1) * self.spb * self.step_seconds
        step = math.ceil((t - first) / self.step_seconds - 1e-9)
        transport = self.start(t, step)
        self._anchor_t, self._anchor_step = first, 0
        if evidence is not None:
            self._evidence = placed_evidence(keyed, first, period / 2, self.phase_model, g.place_prior)
        return transport

    def _correct(self, t: float, key: object) -> None:
        """Move the grid's phase and period toward the onset at t (see the module docstring)."""
        if t - self._last_onset < CHORD_SECONDS:
            return
        self._last_onset = t
        g, q = self.gains, self.step_seconds
        x = self._anchor_step + (t - self._anchor_t) / q
        best = None
        for span, weight in zip((self.spb, self.spb / 2, self.spb / 4), g.level_weights):
            point = round(x / span) * span
            w = weight * math.exp(-0.5 * ((x - point) / span / g.closeness) ** 2)
            if best is None or w > best[0]:
                best = (w, point)
        w, point = best
        error = (x - point) * q  # seconds; > 0: the onset came after the grid point
        beat = q * self.spb
        budget = min(1.0, (t - self._budget_t) / beat) if self._budget_t > -math.inf else 1.0
        self._budget_t = t
        shift = max(-g.max_phase * beat * budget, min(g.max_phase * beat * budget, g.phase * w * error))
        change = max(-g.max_period * beat * budget, min(g.max_period * beat * budget, g.period * w * error))
        new_beat = min(max(beat + change, 60.0 / MAX_BPM), 60.0 / MIN_BPM)
        # Re-anchor at the onset's grid point, so the period turns about where the player is.
        self._anchor_t, self._anchor_step = self._model_time(point) + shift, point
        self.step_seconds = new_beat / self.spb
        self._floor = max(self._floor, t)
        if self._evidence is not None:
            self._weigh_phase(x, key)

    def _weigh_phase(self, x: float, key: object) -> None:
        """Add the note at grid step x to the phase evidence; when the other 8ths have become much likelier
        beats, renumber the grid half a beat later: the ticks reach it through the slew, never a jump."""
        eighth = x / (self.spb // 2)
        if abs(eighth - round(eighth)) <= ON_EIGHTH and isinstance(key, int):
            self._evidence.add(round(eighth), key)
        if self._evidence.llr < -self.gains.switch:
            self._anchor_step -= self.spb // 2
            self._evidence.shift(1)


def run_clock(clock: FollowClock, heard: list[tuple[float, object]], until: float) -> list[Tick]:
    """Every tick `clock` gives while hearing `heard` ((time, key or PEDAL), in time order) until `until`,
    each tick fired before whatever is heard after it, as the live bridge fires them."""
    ticks: list[Tick] = []
    for t, source in [*heard, (until, None)]:
        while (next_t := clock.next_tick_time()) is not None and not handled_before_tick(t, next_t):
            ticks.append(clock.due(next_t))
        if source is not None:
            clock.hear(t, source)
    return ticks
