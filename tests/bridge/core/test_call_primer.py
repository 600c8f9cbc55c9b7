"""The call primed as it is played: no tick runs more than a few model steps, and the answer is the one the whole
call stepped through the model at the pause gives, however the grid runs."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from sideman.bridge.core.answer import Answerer, AnswerSettings, answer_for
from sideman.bridge.model.melody import MELODY_VOCAB, fold, melody_tokens, octave_shift
from tests.fakes import FakeMelody

STEP = 0.15  # seconds per 16th
V = MELODY_VOCAB
MAX_MODEL_STEPS_PER_TICK = 6  # a few: the project's tick budget holds a handful of melody model steps


class ScrambledMelody(FakeMelody):
    """A model whose logits hang on every token and phase fed since its last reset (its state is their hash)."""

    def __init__(self) -> None:
        super().__init__()
        self.state = 0

    def reset(self) -> None:
        self.resets += 1
        self.state = 0

    def snapshot(self) -> int:
        return self.state

    def restore(self, snapshot: int) -> None:
        self.state = snapshot

    def step(self, prev: int, phase: int) -> np.ndarray:
        self.fed.append((prev, phase))
        self.state = hash((self.state, prev, phase)) & 0xFFFFFFFF
        return np.random.default_rng(self.state).normal(0.0, 2.0, V.size).astype(np.float32)


def random_call(rng: np.random.Generator) -> list[tuple[int, float, float]]:
    """(pitch, on, off) in seconds: a few notes within an octave (any register), overlapping or struck together at
    times (never a key struck again while it sounds), off the grid, all within three bars."""
    centre, notes, t = int(rng.integers(35, 100)), [], float(rng.uniform(0.0, 3.0)) * STEP
    for _ in range(int(rng.integers(1, 12))):
        free = [p for p in range(centre - 5, centre + 6) if all(q != p or off < t for q, _, off in notes)]
        notes.append((int(rng.choice(free)), t, t + float(rng.uniform(0.3, 6.0)) * STEP))
        t += float(rng.choice([0.0, rng.uniform(0.2, 5.0)])) * STEP
    return notes


def perform(a: Answerer, call: list[tuple[int, float, float]], first_tick: int = 0, jump_at: int | None = None,
            jump: int = 0) -> tuple[list[tuple[int, int]], tuple[int, float] | None, list[int]]:
    """The call heard at its times; ticks every 16th from tick `first_tick` (their step numbers jumping by `jump`
    from tick `jump_at` on) until the answer ends. The answer's note-ons as (ticks since it began, pitch), the
    step and time it began at, and the model steps of each tick."""
    events = sorted([(on, mido.Message("note_on", note=p, velocity=80)) for p, on, _ in call]
                    + [(off, mido.Message("note_off", note=p)) for p, _, off in call], key=lambda e: e[0])
    fed, played, begun, costs = a.model.fed, [], None, []
    for k in range(first_tick, first_tick + 400):
        while events and events[0][0] < k * STEP:
            before = len(fed)
            a.hear(events[0][1], events.pop(0)[0])
            assert len(fed) == before, "hearing a note ran the model"
        step = k + (jump if jump_at is not None and k >= jump_at else 0)
        before, answers = len(fed), a.answers
        out = a.tick(step, k * STEP, STEP)
        costs.append(len(fed) - before)
        if a.answers > answers:
            begun, k0 = (step, k * STEP), k
        played += [(k - k0, m.note) for m in out if m.type == "note_on"]
        if begun is not None and not a.answering:
            break
    return played, begun, costs


def whole_call_answer(model: ScrambledMelody, call: list[tuple[int, float, float]], pause: int, t: float,
                      settings: AnswerSettings) -> list[tuple[int, int]]:
    """The answer's (step, pitch) note-ons as they were once worked out all at the pause tick (step `pause` at
    `t`): the whole call put on the grid then, moved by the octaves its median needs, and stepped through the
    model from a reset state."""
    rel = []
    for p, on, off in call:
        a = round((on - t) / STEP)
        rel.append((a, min(max(a + 1, round((off - t) / STEP)), 0), p))
    first = min(a for a, _, _ in rel)
    notes = [(a - first, b - first, p) for a, b, p in rel if b > a]
    shift = octave_shift([p for _, _, p in notes], V)
    tokens = melody_tokens([(a, b, fold(p + shift, V)) for a, b, p in notes], -first, V)
    model.reset()
    prev = V.rest
    for i, token in enumerate(tokens):
        model.step(prev, (pause + first + i) % 4)
        prev = int(token)
    logits = model.step(prev, pause % 4).copy()
    answer = answer_for(model, settings, notes, logits, shift, pause, np.random.default_rng(settings.seed))
    steps = [answer.next_step() for _ in range(answer.left)]
    return [(i, what) for i, what in enumerate(steps) if what >= 0]


def grid_of(seed: int, rng: np.random.Generator) -> dict:
    """In turn: ticks from the start, ticks that begin after part of the call was heard, step numbers that jump."""
    if seed % 3 == 1:
        return {"first_tick": int(rng.integers(1, 30))}
    if seed % 3 == 2:
        return {"jump_at": int(rng.integers(2, 40)), "jump": int(rng.integers(-50, 1000))}
    return {}


@pytest.mark.parametrize("seed", range(45))
def test_the_answer_is_the_one_the_whole_call_primed_at_the_pause_gives(seed: int) -> None:
    rng = np.random.default_rng(seed)
    call = random_call(rng)
    played, begun, _ = perform(Answerer(ScrambledMelody(), AnswerSettings()), call, **grid_of(seed, rng))
    assert begun is not None and played
    assert played == whole_call_answer(ScrambledMelody(), call, *begun, AnswerSettings())


@pytest.mark.parametrize("seed", range(45))
def test_no_tick_runs_more_than_a_few_model_steps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    _, begun, costs = perform(Answerer(FakeMelody(), AnswerSettings()), random_call(rng), **grid_of(seed, rng))
    assert begun is not None and max(costs) <= MAX_MODEL_STEPS_PER_TICK


def test_no_tick_runs_more_than_a_few_model_steps_whatever_the_player_does() -> None:
    """Long calls, the answer control, stops, panics and mode switches, and a grid that jumps now and then."""
    rng = np.random.default_rng(2)
    model = FakeMelody()
    a = Answerer(model, AnswerSettings())
    held: list[int] = []
    step, costs = 0, []
    for k in range(4000):
        t = k * STEP
        before = len(model.fed)
        r = rng.random()
        if r < 0.2:
            p = int(rng.integers(30, 110))
            a.hear(mido.Message("note_on", note=p, velocity=80), t)
            held.append(p)
        elif r < 0.4 and held:
            a.hear(mido.Message("note_off", note=held.pop(0)), t)
        elif r < 0.41:
            a.request()
        elif r < 0.415:
            a.stop(forget=bool(rng.integers(2)))
            held.clear()
        elif r < 0.42:
            a.set_enabled(not a.enabled)
        assert len(model.fed) == before, "only ticks run the model"
        step = int(rng.integers(0, 500)) if rng.random() < 0.01 else step + 1
        a.tick(step, t, STEP)
        costs.append(len(model.fed) - before)
    assert a.answers > 10 and max(costs) <= MAX_MODEL_STEPS_PER_TICK
