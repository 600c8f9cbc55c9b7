"""The band style's harmony with the tune (models/quality's measures), beside the chorale style, on a tune set.

    python3 -m sideman.models.band.harmony --set folk-valid --knobs 0 0.5 1     # choose settings
    python3 -m sideman.models.band.harmony --set folk-test --knobs 0 1         # report once

Comping chords are read as up to three voices (lowest first) so every note they sound is measured.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from sideman.models.quality.engine_row import EngineAccompanist, melody_midi
from sideman.models.quality.grid import Parts, Tune
from sideman.models.quality.study import Entry, format_table, table
from sideman.models.quality.tunes import SETS, load_set

COMP_VOICES = 3


def band_parts(result: Any, n_steps: int) -> Parts:
    """Bass, then the comping's notes sounding at each step's middle, lowest first, as COMP_VOICES voices."""
    pitch = np.full((n_steps, 1 + COMP_VOICES), -1, dtype=np.int64)
    onset = np.zeros_like(pitch, dtype=bool)
    mids = (np.arange(n_steps) + 0.5) * result.step_seconds
    for voice, cols in (("bass", 1), ("comping", COMP_VOICES)):
        notes = [n for n in result.notes if n.voice == voice]
        base = 0 if voice == "bass" else 1
        for s in range(n_steps):
            sounding = sorted((n.pitch, abs(n.start - s * result.step_seconds) < result.step_seconds / 2)
                              for n in notes if n.start <= mids[s] < n.end)[:cols]
            for k, (p, starts) in enumerate(sounding):
                pitch[s, base + k] = p
                onset[s, base + k] = starts
    return Parts(pitch, onset)


@dataclass
class BandAccompanist:
    """The band style through the offline engine `sideman accompany --style band` uses; `band` overrides [band] keys."""

    band: dict[str, Any] = field(default_factory=dict)
    decoder: Any = None

    def __call__(self, tune: Tune, seed: int) -> Parts:
        from sideman.bridge.config import Config
        from sideman.bridge.engines import band_settings, load_band_decoder
        from sideman.bridge.offline.render import render

        config = Config().replace("engine", seed=seed, style="band")
        if self.band:
            config = config.replace("band", **self.band)
        if self.decoder is None:
            self.decoder = load_band_decoder(config)
        result = render(melody_midi(tune), self.decoder, band_settings(config, list(self.decoder.anchors)))
        return band_parts(result, tune.n_steps)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", choices=SETS, default="folk-valid")
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--knobs", type=float, nargs="+", default=[0.0, 1.0])
    p.add_argument("--anchors", nargs=2, default=None, help="the two anchors of the knob (default: [band]'s)")
    p.add_argument("--comp-range", type=int, nargs=2, default=None, help="comping register [low, high]")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--no-chorale", action="store_true", help="leave out the chorale style's row")
    args = p.parse_args(argv)
    tunes = load_set(args.set, args.limit or None)
    print(f"{args.set}: {len(tunes)} tunes", file=sys.stderr)
    extra: dict[str, Any] = {}
    if args.anchors:
        extra["anchors"] = tuple(args.anchors)
    if args.comp_range:
        extra["comp_range"] = tuple(args.comp_range)
    entries = [] if args.no_chorale else [Entry("chorale style (shipped chorale-gru)", EngineAccompanist(), tuple(args.seeds))]
    decoder = None
    for knob in args.knobs:
        band = BandAccompanist({**extra, "knob": knob}, decoder)
        entries.append(Entry(f"band, knob {knob:g}" + "".join(f", {k}={v}" for k, v in extra.items()), band, tuple(args.seeds)))
    print(format_table(table(tunes, entries, progress=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
