"""The parallel-fifths/octaves guard: it bans exactly what the evaluation counts, and the engine uses it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sideman.bridge.model.contract import Vocab
from sideman.bridge.core.engine import EngineSettings
from sideman.bridge.offline.render import render
from sideman.bridge.model.runtime import OnnxStepModel
from sideman.bridge.engines import DEFAULT_MODEL
from sideman.bridge.core.voice_leading import NO_PITCH, ParallelGuard, next_pitch
from sideman.bridge.model.sampling import FORBIDDEN
from sideman.models.metrics import measure, parallels
from sideman.models.data import VOICES

V = Vocab()
PITCH = st.integers(V.pitch_min, V.pitch_max)
ORDER = (2, 1, 0)  # bass, tenor, alto


def counted(a0: int, a1: int, b0: int, b1: int) -> int:
    """Parallels the evaluation metric counts for two voices moving a0 -> a1 and b0 -> b1."""
    pa, pb = np.array([a0, a1]), np.array([b0, b1])
    onset = np.array([True, True])
    f, o = parallels(pa, pb, onset, onset.copy())
    return f + o


def test_a_known_parallel_fifth_is_banned_and_other_motion_is_not():
    guard = ParallelGuard(V, 3, ORDER)
    c3, d3, g3, a3, b3, f3 = 48, 50, 55, 57, 59, 53
    bad = guard.forbidden_against(prev_other=c3, new_other=d3, prev_self=g3)  # bass C3->D3 under tenor G3
    assert bad[V.onset(a3)]  # G3->A3: fifths C-G, D-A in similar motion
    assert not bad[V.onset(b3)]  # D-B is a sixth
    assert not bad[V.onset(f3)]  # contrary motion
    assert not bad[V.hold] and not bad[V.rest] and not bad[V.onset(g3)]  # oblique motion / silence
    assert bad[V.onset(a3 + 12)]  # a compound fifth counts too (interval mod 12)
    assert guard.forbidden_against(prev_other=c3, new_other=d3, prev_self=f3) is None  # C-F: a fourth
    assert guard.forbidden_against(prev_other=c3, new_other=c3, prev_self=g3) is None  # the other voice holds


@settings(max_examples=300, deadline=None)
@given(a0=PITCH, a1=PITCH, b0=PITCH)
def test_the_guard_bans_exactly_what_the_metric_counts(a0, a1, b0):
    guard = ParallelGuard(V, 3, ORDER)
    bad = guard.forbidden_against(a0, a1, b0)
    for b1 in range(V.pitch_min, V.pitch_max + 1):
        banned = bad is not None and bool(bad[V.onset(b1)])
        assert banned == (counted(a0, a1, b0, b1) > 0), (a0, a1, b0, b1)


@settings(max_examples=200, deadline=None)
@given(prev=st.lists(PITCH | st.just(NO_PITCH), min_size=3, max_size=3), chosen=st.lists(PITCH, min_size=3, max_size=3))
def test_pair_bias_rows_match_the_metric_for_every_pair_in_decode_order(prev, chosen):
    guard = ParallelGuard(V, 3, ORDER)
    guard.update_pairs(np.array(prev))
    for rank, q in enumerate(ORDER):
        for k in ORDER[rank + 1:]:
            row = guard.pair_bias[q, k, V.onset(chosen[q])]
            for b1 in range(V.pitch_min, V.pitch_max + 1):
                want = prev[q] >= 0 and prev[k] >= 0 and counted(prev[q], chosen[q], prev[k], b1) > 0
                assert (row[V.onset(b1)] == FORBIDDEN) == want
    # Blocks for pairs the graph never reads (a part decoded after k) stay zero.
    assert not guard.pair_bias[0, 2].any() and not guard.pair_bias[1, 2].any() and not guard.pair_bias[0, 1].any()


def test_pair_bias_is_cleared_when_the_voices_move_apart():
    guard = ParallelGuard(V, 3, ORDER)
    guard.update_pairs(np.array([67, 60, 48]))  # alto G4, tenor C4, bass C3: all perfect intervals
    assert guard.pair_bias.any()
    guard.update_pairs(np.array([64, 59, 50]))  # E4, B3, D3: no fifth or octave between any two
    assert not guard.pair_bias.any()


def test_next_pitch_follows_holds_and_rests():
    assert next_pitch(NO_PITCH, V.onset(60), V) == 60
    assert next_pitch(60, V.hold, V) == 60
    assert next_pitch(60, V.rest, V) == NO_PITCH
    assert next_pitch(NO_PITCH, V.hold, V) == NO_PITCH


def _rendered_parallels(forbid: bool) -> tuple[int, int]:
    """Parallels in the shipped model's accompaniment of the demo melody, from the engine's own steps."""
    model = OnnxStepModel.load(DEFAULT_MODEL)
    settings_ = EngineSettings(part_channels=(1, 2, 3), seed=3, forbid_parallels=forbid)
    result = render(DEFAULT_MODEL.with_name("demo-melody.mid"), model, settings_)
    steps = [s for s in result.steps if s is not None]
    lead = [s.prev_lead for s in steps[1:]] + [steps[-1].lead]  # what the lead really did at each step
    tokens = np.array([[ld if ld != V.unknown else V.rest, *s.tokens] for ld, s in zip(lead, steps)])
    c = measure(tokens, VOICES)
    return c.parallel_fifths + c.parallel_octaves, len(steps)


def test_the_engine_plays_no_parallels_with_the_guard_and_some_without():
    guarded, n = _rendered_parallels(True)
    raw, _ = _rendered_parallels(False)
    assert n > 100
    assert guarded == 0
    assert raw > 0  # the same model, seed and melody do move in parallel when unguarded
