"""Answering ahead: the coming step worked out in idle time, so that its tick only sends.

A model step costs several times more in a thread that has just woken (its caches went cold while it
slept) than back to back, and the live loop sleeps between ticks. `AheadEngine.prepare()` runs the coming
step's hearing and model before its tick, with the inputs the tick would have if nothing else arrived,
and puts the engine back as it was. The tick adopts that answer when its inputs turned out the same, and
otherwise answers afresh: either way it plays exactly what a plain `Engine` plays
(tests/bridge/core/test_ahead.py). The offline renderer and the tests drive a plain `Engine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mido
import numpy as np

from sideman.bridge.core.engine import SAME_TIME, Engine, _Plan
from sideman.bridge.model.sampling import gumbel_noise


@dataclass(frozen=True)
class _Prepared:
    """A step answered ahead of its tick."""

    key: tuple[Any, ...]  # everything the answer depends on besides the model state, the hearing and the noise
    t: float  # the tick time prepare() expected
    plan: _Plan
    model_before: Any  # the model state before the step (for a late re-answer)
    model_after: Any
    hearing_after: Any
    heard_bias: np.ndarray | None
    answer: np.ndarray


class AheadEngine(Engine):
    """An `Engine` with `prepare()`; same interface, same music."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._prepared: _Prepared | None = None  # before Engine.__init__, which forgets history
        super().__init__(*args, **kwargs)
        self.prepared_count = 0  # ticks answered from a prepared step (the status line shows the share)
        # The next step's one noise draw, made by prepare() and kept until that step's tick uses it, so the
        # random stream is the same with or without preparing.
        self._next_noise = np.zeros_like(self._noise)
        self._noise_ready = False
        self._prep_parts = np.empty_like(self._in_parts)
        self._prep_pitch = np.empty_like(self._pitch_prev)

    def prepare(self, step: int, t: float, now: float, beats_per_bar: int = 4) -> bool:
        """Answer step `step`, expected to tick at `t`, now (at `now`). Returns whether an answer is ready.

        Not while the current step may still be re-answered (its late window is open): that would change
        this step's inputs.
        """
        if self._has_prev and self._step_ok and now <= self._tick_t + self.settings.late_window + SAME_TIME:
            return False
        plan = self._plan(t)
        key = self._key(step, plan, self._position(step, beats_per_bar))
        if self._prepared is not None and self._prepared.key == key:
            return True
        self._prepared = None
        if not self._noise_ready:
            gumbel_noise(self._rng, self._next_noise.shape, out=self._next_noise)
            self._noise_ready = True
        try:
            model_before = self.model.snapshot()
        except Exception:  # noqa: BLE001 - the tick will meet (and report) the fault itself
            return False
        hearing_before = self._hearing.snapshot()
        heard_now = self._heard_bias
        self._feed_key()
        if self._hearing.active:
            self._hearing.hear(step, self._lead.keys_down)
        heard = self._hear_bias(plan.lead)
        self._heard_bias = None if heard is None else heard.copy()
        self._prep_parts[:] = plan.in_parts
        self._prep_pitch[:] = plan.pitch_prev
        bad = self._run_model(plan.lead, key[2], plan.prev_lead, self._prep_parts, self._prep_pitch,
                              plan.lead_pitch_prev, self._next_noise)
        prepared_heard, self._heard_bias = self._heard_bias, heard_now
        hearing_after = self._hearing.snapshot()
        self._hearing.restore(hearing_before)
        try:
            model_after = self.model.snapshot() if bad is None else None
            self.model.restore(model_before)
        except Exception:  # noqa: BLE001
            return False
        if bad is not None:
            return False
        self._prepared = _Prepared(key, t, plan, model_before, model_after, hearing_after, prepared_heard,
                                   self._answer.copy())
        return True

    def _key(self, step: int, plan: _Plan, position: tuple[int, int]) -> tuple[Any, ...]:
        return (step, plan, position, self._temperature, self.settings.top_p)

    def _adoptable(self, prepared: _Prepared | None, step: int, t: float) -> bool:
        """Whether the prepared answer is certainly this tick's (the cheap test; else the tick answers afresh)."""
        if prepared is None:
            return False
        if t != prepared.t:  # the tick came at another time: the same onsets must fall in its early window
            edge = self.settings.early_window + SAME_TIME
            if any((o[1] >= prepared.t - edge) != (o[1] >= t - edge) for o in self._onsets):
                return False
        return prepared.key == self._key(step, prepared.plan, self._position_now)

    def tick(self, step: int, t: float, step_seconds: float, beats_per_bar: int = 4) -> list[mido.Message]:
        prepared, self._prepared = self._prepared, None
        self._position_now = self._position(step, beats_per_bar)
        if prepared is None or not self._adoptable(prepared, step, t):
            return super().tick(step, t, step_seconds, beats_per_bar)
        self._advance(step, t, step_seconds, prepared.plan)
        self._draw_noise()
        try:
            self.model.restore(prepared.model_after)
        except Exception as exc:  # noqa: BLE001
            return self._fail(f"model restore failed: {type(exc).__name__}: {exc}")
        self._hearing.restore(prepared.hearing_after)
        self._heard_bias = prepared.heard_bias
        self._snap = prepared.model_before
        np.copyto(self._answer, prepared.answer)
        self.prepared_count += 1
        return self._sound()

    def _draw_noise(self) -> None:
        if self._noise_ready:
            np.copyto(self._noise, self._next_noise)
            self._noise_ready = False
        else:
            super()._draw_noise()

    # Everything that changes a coming step's inputs drops its prepared answer.
    def handle(self, msg: mido.Message, t: float) -> list[mido.Message]:
        if self._prepared is not None and self._lead.listens_to(getattr(msg, "channel", -1)):
            self._prepared = None
        return super().handle(msg, t)

    def _forget_history(self) -> None:
        self._prepared = None
        super()._forget_history()

    def freeze_key(self, on: bool) -> None:
        self._prepared = None
        super().freeze_key(on)

    def set_enabled(self, enabled: bool) -> list[mido.Message]:
        self._prepared = None
        return super().set_enabled(enabled)

    def set_muted(self, part: int, muted: bool) -> list[mido.Message]:
        self._prepared = None
        return super().set_muted(part, muted)

    def panic(self) -> list[mido.Message]:
        self._prepared = None
        return super().panic()

    def stop(self) -> list[mido.Message]:
        self._prepared = None
        return super().stop()
