"""A piano-roll PNG of an accompanied melody: one colour per voice, bar and beat lines, pitch names.

matplotlib is imported inside the function (with the non-interactive Agg backend), so the live
bridge never loads it and a headless machine can draw.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from collections.abc import Sequence
from typing import Protocol

from sideman.bridge.errors import SidemanError
from sideman.bridge.model.contract import pitch_name


class RolledNote(Protocol):
    voice: str
    pitch: int
    start: float  # seconds
    end: float


class Rendered(Protocol):
    """What a piano roll reads of a render (sideman.bridge.offline.render.RenderResult)."""

    notes: Sequence[RolledNote]
    voices: Sequence[str]
    bpm: float
    beats_per_bar: int
    step_seconds: float

    @property
    def n_steps(self) -> int: ...

# Colour-blind-safe (Okabe-Ito): lead first, then the parts.
COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442")
_BLACK_KEYS = {1, 3, 6, 8, 10}


def save_piano_roll(result: Rendered, path: str | os.PathLike[str], title: str = "") -> Path:
    """Draw `result` (sideman.bridge.offline.render.render) to `path` as PNG and return the path."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    beat = 60.0 / result.bpm
    notes = result.notes
    if notes:
        low = min(n.pitch for n in notes) - 1
        high = max(n.pitch for n in notes) + 1
        end_beats = max(n.end for n in notes) / beat
    else:
        low, high, end_beats = 59, 73, float(result.beats_per_bar)
    end_beats = max(end_beats, result.n_steps * result.step_seconds / beat)
    bars = max(1, math.ceil(end_beats / result.beats_per_bar - 1e-6))  # float times: 48.0000001 beats is 12 bars
    total_beats = bars * result.beats_per_bar
    width = min(60.0, max(8.0, 1.5 + 0.35 * total_beats))
    height = min(30.0, max(4.0, 1.2 + 0.17 * (high - low + 1)))
    fig, ax = plt.subplots(figsize=(width, height))
    try:
        for pitch in range(low, high + 1):
            if pitch % 12 in _BLACK_KEYS:
                ax.axhspan(pitch - 0.5, pitch + 0.5, color="#f0f0f0", zorder=0, lw=0)
        for b in range(total_beats + 1):
            is_bar = b % result.beats_per_bar == 0
            ax.axvline(b, color="#555555" if is_bar else "#d0d0d0", lw=1.1 if is_bar else 0.5, zorder=1)
        for k, voice in enumerate(result.voices):
            mine = [n for n in notes if n.voice == voice]
            colour = COLOURS[k % len(COLOURS)]
            ax.barh([n.pitch for n in mine], [(n.end - n.start) / beat for n in mine],
                    left=[n.start / beat for n in mine], height=0.8 if k == 0 else 0.7, color=colour,
                    edgecolor="white" if k == 0 else "black", linewidth=0.4, zorder=3 if k == 0 else 2,
                    label=f"{voice} ({len(mine)} notes)")
        ax.set_yticks(range(low, high + 1))
        ax.set_yticklabels([pitch_name(p) for p in range(low, high + 1)], fontsize=7)
        ax.set_ylim(low - 0.5, high + 0.5)
        ax.set_xlim(0, total_beats)
        ax.set_xticks([b * result.beats_per_bar for b in range(bars)])
        ax.set_xticklabels([str(b + 1) for b in range(bars)], fontsize=8)
        ax.set_xlabel(f"bar ({result.beats_per_bar} beats, {result.bpm:g} BPM)")
        ax.set_ylabel("pitch")
        if title:
            ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
        fig.tight_layout()
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110)
        except OSError as exc:
            raise SidemanError(f"{path}: cannot write the piano roll ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
    return path
