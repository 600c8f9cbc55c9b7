"""`sideman listen MELODY.mid [--json]`: what Sideman hears in a tune, bar by bar, as the live bridge hears it.

The file goes through the same engine as `accompany` (and so the same listener, step by step, never
looking ahead); per bar it prints the key heard at the bar's end, its confidence, and the chord heard
at the end of each beat. With --json each bar also lists the beats the live follower heard during it
(sideman.bridge.core.follow, fed the tune's note-ons, causally: what `--clock follow` would tick), in
seconds from the file's start; bars are the file's own. `--listener` makes the engine hear with a
recogniser file (bridge/listen) instead of the config's [engine] listener.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

from fractions import Fraction

from sideman.bridge.core.follow import FollowClock, run_clock
from sideman.bridge.core.listening import HeardNow
from sideman.bridge.listen.names import chord_name, key_name
from sideman.bridge.listen.recogniser import DEFAULT_LISTENER, Recogniser
from sideman.bridge.offline.render import RenderResult


def followed_beats(result: RenderResult, bpm: float) -> list[float]:
    """The beat times (s) the follower, expecting `bpm`, ticks while it hears the tune's note-ons."""
    lead = [n for n in result.notes if n.voice == "lead"]
    heard = sorted((n.start, n.pitch) for n in lead)
    until = max((n.end for n in lead), default=0.0)
    ticks = run_clock(FollowClock(bpm, result.steps_per_beat), heard, until)
    return [tick.t for tick in ticks if tick.step >= 0 and tick.step % result.steps_per_beat == 0]


def bars(result: RenderResult, beat_times: list[float] | None = None) -> Iterator[dict]:
    """One dict per bar: {"bar": 1, "key": "G major", "confidence": 0.8, "chords": ["G", "G", "D7", "G"]},
    and with `beat_times`, "beats": those heard during the bar ([12.51, 13.12, ...], s)."""
    spb, beats = result.steps_per_beat, result.beats_per_bar
    per_bar = spb * beats
    heard = result.heard
    tmap = result.tempo_map

    def seconds(step: int) -> float:
        return tmap.seconds(Fraction(step * tmap.ticks_per_beat, spb))

    for first in range(0, len(heard) - per_bar + 1, per_bar):
        end: HeardNow = heard[first + per_bar - 1]
        chords = []
        for beat in range(beats):
            at = heard[first + (beat + 1) * spb - 1]
            chords.append("-" if at.chord is None else chord_name(at.chord))
        bar = {"bar": first // per_bar + 1, "key": "-" if end.key is None else key_name(end.key),
               "confidence": round(end.key_confidence, 2), "chords": chords}
        if beat_times is not None:
            start, stop = seconds(first), seconds(first + per_bar)
            bar["beats"] = [round(t, 3) for t in beat_times if start <= t < stop]
        yield bar


def add_listen_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "Print what Sideman hears in a tune, bar by bar: the key (and how sure) and the chord of each beat."
    p.add_argument("melody", metavar="MELODY.mid", help="a MIDI file holding the tune")
    p.add_argument("--json", action="store_true", help="one JSON object per line and bar")
    p.add_argument("--config", metavar="PATH", help="a TOML file overriding the defaults")
    p.add_argument("--track", type=int, metavar="N", help="0-based track holding the tune (default: as accompany chooses)")
    p.add_argument("--channel", type=int, metavar="N", help="MIDI channel (1-16) of the tune")
    p.add_argument("--listener", metavar="PATH", nargs="?", const=str(DEFAULT_LISTENER),
                   help="hear with this recogniser file (the listener contract; without PATH: the shipped "
                        "bridge/assets/listener.onnx) instead of the config's [engine] listener")


def cmd_listen(args: argparse.Namespace) -> int:
    from sideman.bridge.config import load_config
    from sideman.bridge.engines import engine_settings, hearing_for, load_model, model_paths
    from sideman.bridge.offline.render import render

    config = load_config(args.config)
    model = load_model(model_paths(config)[0])
    if args.listener is None:
        listener, tables = hearing_for(config.engine.listener, model.contract)
    else:
        from sideman.bridge.core.key_profiles import pitch_class_tables

        listener, tables = Recogniser.load(args.listener), pitch_class_tables()
    channel = None if args.channel is None else args.channel - 1
    result = render(args.melody, model, engine_settings(config, model.contract), track=args.track, channel=channel,
                    listener=listener, tables=tables)
    for bar in bars(result, followed_beats(result, config.bridge.tempo) if args.json else None):
        if args.json:
            print(json.dumps(bar), flush=True)
        else:
            print(f"bar {bar['bar']:3d}: {bar['key']:<9} {100 * bar['confidence']:3.0f}%  {' '.join(f'{c:<6}' for c in bar['chords']).rstrip()}")
    sys.stdout.flush()
    return 0
