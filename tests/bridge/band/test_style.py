"""Spherical interpolation between anchors: endpoints, norms, the arc, and degenerate anchors."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sideman.bridge.band.style import slerp

vectors = st.lists(st.floats(-3, 3), min_size=4, max_size=4).map(lambda v: np.array(v, np.float64))


@settings(max_examples=60, deadline=None)
@given(vectors, vectors)
def test_endpoints_and_monotonic_angle(a, b):
    assert np.allclose(slerp(a, b, 0.0), a, atol=1e-5) and np.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    if np.linalg.norm(a) < 1e-3 or np.linalg.norm(b) < 1e-3:
        return
    ua = a / np.linalg.norm(a)
    angles = []
    for k in np.linspace(0, 1, 9):
        z = slerp(a, b, k).astype(np.float64)
        if np.linalg.norm(z) > 1e-6:
            angles.append(np.arccos(np.clip(z @ ua / np.linalg.norm(z), -1, 1)))
    assert all(x <= y + 1e-4 for x, y in zip(angles, angles[1:]))


def test_stays_on_the_arc_for_equal_norms():
    a, b = np.array([1.0, 0, 0]), np.array([0, 2.0, 0]) / 2
    for k in np.linspace(0, 1, 5):
        assert abs(np.linalg.norm(slerp(a, b, k)) - 1.0) < 1e-6


def test_parallel_anchors_fall_back_to_a_line():
    a = np.array([1.0, 1.0])
    assert np.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)
    assert np.allclose(slerp(a, -a, 0.5), 0 * a)
