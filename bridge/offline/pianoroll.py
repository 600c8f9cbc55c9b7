"""A piano-roll PNG of an accompanied melody: one colour per voice, bar and beat lines, pitch names.

Time runs left to right at one scale for any length of piece: the roll is cut into systems of
whole bars (about `BEATS_PER_SYSTEM` beats), stacked like lines of a score, each spanning only the pitches it uses; a
piece too long for one image goes on to `ROLL-2.png`, `ROLL-3.png`, ...

matplotlib is optional: it is imported inside `save_piano_roll` (with the non-interactive Agg
backend), so the live bridge never loads it, a headless machine can draw, and a plain install
gets a MissingDependencyError that says how to install it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sideman.bridge.errors import MissingDependencyError, SidemanError
from sideman.bridge.model.contract import pitch_name


class RolledNote(Protocol):
    voice: str
    pitch: int
    start: float  # seconds
    end: float


class Timeline(Protocol):
    tempos: tuple[int, ...]  # microseconds per beat, each tempo of the piece

    def beats(self, second: float) -> float: ...


class Rendered(Protocol):
    """What a piano roll reads of a render (sideman.bridge.offline.render.RenderResult)."""

    notes: Sequence[RolledNote]
    voices: Sequence[str]
    beats_per_bar: int
    steps_per_beat: int
    tempo_map: Timeline

    @property
    def n_steps(self) -> int: ...

# Colour-blind-safe (Okabe-Ito): lead first, then the parts.
COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442")
_BLACK_KEYS = {1, 3, 6, 8, 10}
BEATS_PER_SYSTEM = 32
INCHES_PER_BEAT = 0.35
INCHES_PER_PITCH = 0.13
MAX_PAGE_INCHES = 40.0  # a page grows by systems up to this height, then the next page starts
_MARGIN_INCHES = (1.0, 1.6, 0.7)  # left (pitch names), right (legend), per system (bar numbers)


@dataclass(frozen=True)
class System:
    """One line of the roll: bars [first_bar, first_bar + bars) and the pitches [low, high] drawn."""

    first_bar: int
    bars: int
    low: int
    high: int

    @property
    def height(self) -> float:
        return _MARGIN_INCHES[2] + INCHES_PER_PITCH * (self.high - self.low + 1)


def bars_per_system(beats_per_bar: int) -> int:
    return max(1, BEATS_PER_SYSTEM // beats_per_bar)


def layout(result: Rendered) -> list[list[System]]:
    """The pages of the roll, each a list of systems (the drawing does exactly this)."""
    beats = [(result.tempo_map.beats(n.start), result.tempo_map.beats(n.end), n.pitch) for n in result.notes]
    end_beats = max([result.n_steps / result.steps_per_beat, *(end for _, end, _ in beats)])
    bar = result.beats_per_bar
    per_system = bars_per_system(bar)
    total_bars = max(1, math.ceil(end_beats / bar - 1e-6))  # float times: 48.0000001 beats is 12 bars
    pages: list[list[System]] = [[]]
    for first in range(0, total_bars, per_system):
        lo_beat, hi_beat = first * bar, (first + per_system) * bar
        pitches = [p for start, end, p in beats if start < hi_beat and end > lo_beat]
        low, high = (min(pitches) - 1, max(pitches) + 1) if pitches else (59, 73)
        if high - low < 12:  # at least an octave, so a quiet system stays legible
            low -= (12 - (high - low)) // 2
            high = low + 12
        system = System(first, min(per_system, total_bars - first), low, high)
        if pages[-1] and sum(s.height for s in pages[-1]) + system.height > MAX_PAGE_INCHES:
            pages.append([])
        pages[-1].append(system)
    return pages


def page_paths(path: Path, pages: int) -> list[Path]:
    return [path] + [path.with_name(f"{path.stem}-{k}{path.suffix}") for k in range(2, pages + 1)]


def _tempo_text(result: Rendered) -> str:
    import mido

    bpms = sorted({round(mido.tempo2bpm(t), 1) for t in result.tempo_map.tempos})
    return f"{bpms[0]:g} BPM" if len(bpms) == 1 else f"{bpms[0]:g}-{bpms[-1]:g} BPM"


def _draw_system(ax, result: Rendered, system: System, legend: bool) -> None:
    bar = result.beats_per_bar
    first_beat = system.first_bar * bar
    for pitch in range(system.low, system.high + 1):
        if pitch % 12 in _BLACK_KEYS:
            ax.axhspan(pitch - 0.5, pitch + 0.5, color="#f0f0f0", zorder=0, lw=0)
    for b in range(system.bars * bar + 1):
        is_bar = b % bar == 0
        ax.axvline(first_beat + b, color="#555555" if is_bar else "#d0d0d0", lw=1.1 if is_bar else 0.5, zorder=1)
    last_beat = first_beat + system.bars * bar
    beats = result.tempo_map.beats
    for k, voice in enumerate(result.voices):
        mine = [(beats(n.start), beats(n.end), n.pitch) for n in result.notes if n.voice == voice]
        total = len(mine)
        mine = [(max(s, first_beat), min(e, last_beat), p) for s, e, p in mine if s < last_beat and e > first_beat]
        colour = COLOURS[k % len(COLOURS)]
        ax.barh([p for _, _, p in mine], [e - s for s, e, _ in mine], left=[s for s, _, _ in mine],
                height=0.8 if k == 0 else 0.7, color=colour, edgecolor="white" if k == 0 else "black", linewidth=0.4,
                zorder=3 if k == 0 else 2, label=f"{voice} ({total} notes)")
    ax.set_yticks(range(system.low, system.high + 1))
    ax.set_yticklabels([pitch_name(p) for p in range(system.low, system.high + 1)], fontsize=6)
    ax.set_ylim(system.low - 0.5, system.high + 0.5)
    ax.set_xlim(first_beat, first_beat + bars_per_system(bar) * bar)  # a short last system keeps the scale
    ax.set_xticks([first_beat + b * bar for b in range(system.bars)])
    ax.set_xticklabels([str(system.first_bar + b + 1) for b in range(system.bars)], fontsize=8)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)


def save_piano_roll(result: Rendered, path: str | os.PathLike[str], title: str = "") -> list[Path]:
    """Draw `result` (sideman.bridge.offline.render.render) as PNG pages; returns their paths, `path` first."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("the piano roll needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    pages = layout(result)
    paths = page_paths(Path(path), len(pages))
    left, right, _ = _MARGIN_INCHES
    width = left + right + INCHES_PER_BEAT * bars_per_system(result.beats_per_bar) * result.beats_per_bar
    label = f"bar ({result.beats_per_bar} beats, {_tempo_text(result)})"
    for number, (systems, page_path) in enumerate(zip(pages, paths), start=1):
        top = 0.5 if title else 0.2
        height = top + sum(s.height for s in systems)
        fig = plt.figure(figsize=(width, height))
        try:
            grid = fig.add_gridspec(len(systems), 1, height_ratios=[s.height for s in systems], left=left / width,
                                    right=1 - right / width, top=1 - top / height, bottom=0.05 / height, hspace=0.0)
            for row, system in enumerate(systems):
                ax = fig.add_subplot(grid[row])
                _draw_system(ax, result, system, legend=row == 0)
                ax.set_position(_shrink(ax.get_position(), system, height))
            ax.set_xlabel(label)
            if title:
                fig.suptitle(title if len(pages) == 1 else f"{title} ({number}/{len(pages)})", y=1 - 0.1 / height)
            try:
                page_path.parent.mkdir(parents=True, exist_ok=True)
                fig.savefig(page_path, dpi=110)
            except OSError as exc:
                raise SidemanError(f"{page_path}: cannot write the piano roll ({exc.strerror or exc})") from None
        finally:
            plt.close(fig)
    return paths


def _shrink(box, system: System, page_height: float):
    """The axes box without its bottom margin (room for the bar numbers under each system)."""
    from matplotlib.transforms import Bbox

    margin = _MARGIN_INCHES[2] / page_height
    return Bbox.from_bounds(box.x0, box.y0 + margin, box.width, box.height - margin)
