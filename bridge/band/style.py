"""The style knob: a point on the great circle between two named anchors of the pattern VAE's latent space."""

from __future__ import annotations

import numpy as np


def slerp(a: np.ndarray, b: np.ndarray, knob: float) -> np.ndarray:
    """Spherical interpolation from `a` (knob 0) to `b` (knob 1); the norm moves linearly between theirs, and
    (anti)parallel or zero anchors fall back to a straight line, which is then the only path."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    k = float(np.clip(knob, 0.0, 1.0))
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return ((1 - k) * a + k * b).astype(np.float32)
    ua, ub = a / na, b / nb
    omega = float(np.arccos(np.clip(ua @ ub, -1.0, 1.0)))
    if omega < 1e-6 or np.pi - omega < 1e-6:
        return ((1 - k) * a + k * b).astype(np.float32)
    direction = (np.sin((1 - k) * omega) * ua + np.sin(k * omega) * ub) / np.sin(omega)
    return (direction * ((1 - k) * na + k * nb)).astype(np.float32)
