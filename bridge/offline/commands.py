"""`sideman accompany` and `sideman demo`: the offline commands around `render` (sideman.bridge.offline.render).

The config comes the live road's way (defaults, the user's file, --config, flags), so a file accompanied
offline sounds as `sideman run` would play it; a prompt's settings go in before the flags that win over it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import mido

from sideman.bridge.config import CONFIG_FLAG_HELP, Config, load_config
from sideman.bridge.core.engine import EngineSettings, StepModel
from sideman.bridge.core.follow import FollowClock
from sideman.bridge.engines import (band_settings, build_answerer, engine_settings, hearing_for, load_band_decoder,
                                    load_model, model_paths, style_parts)
from sideman.bridge.offline import audio
from sideman.bridge.offline.midi_input import read_melody
from sideman.bridge.offline.midi_output import place_parts, refuse_overwriting
from sideman.bridge.offline.render import DEMO_MELODY, RenderResult, render
from sideman.bridge.prompt.apply import apply_prompt, current_settings
from sideman.bridge.prompt.parse import parse_prompt

# Prompt settings accompany keeps its own value for, and why.
PROMPT_KEPT = {"tempo": "accompany keeps the file's tempo map (--tempo sets one)",
               "meter": "accompany keeps the file's time signature"}


def _config(args: argparse.Namespace) -> Config:
    """The live road's config: defaults, the user's own file, --config, then these flags. The melody is what read_melody
    picked, so no input channel filters it."""
    return load_config(args.config).with_flags(
        bridge={"model": args.model, "tempo": getattr(args, "tempo", None), "input_channel": 0},
        engine={"seed": args.seed, "temperature": args.temperature, "lead_policy": args.lead_policy, "key": args.key,
                "mode": getattr(args, "mode", None), "style": args.style},
        band={"knob": args.style_knob},
    )


def _model_and_settings(config: Config, prompt: str | None = None,
                        given: tuple[str, ...] = ()) -> tuple[StepModel, EngineSettings, dict[str, Any]]:
    """The model, its settings and the listener it hears with (render's `listener` and `tables`); a prompt's
    settings go into the config first (flags in `given` win over it). The band style (from the config, a flag or
    the prompt): its pattern decoder and BandSettings, and no listener (it hears chords its own way)."""
    model = None
    if prompt is not None:
        model = load_model(model_paths(config)[0])
        styles = style_parts(model.contract.part_names)
        config, lines = apply_prompt(config, parse_prompt(prompt, current_settings(config, styles)), styles,
                                     given=given, kept=PROMPT_KEPT)
        print("\n".join(lines))
    if config.engine.style == "band":
        decoder = load_band_decoder(config)
        return decoder, band_settings(config, list(decoder.anchors)), {}
    model = model or load_model(model_paths(config)[0])
    listener, tables = hearing_for(config.engine.listener, model.contract)
    return model, engine_settings(config, model.contract), {"listener": listener, "tables": tables}


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help=CONFIG_FLAG_HELP + " ([engine], [parts], [bridge] model, [audio])")
    p.add_argument("--model", metavar="PATH", help="ONNX model file (default from config: the shipped chorale model)")
    p.add_argument("--seed", type=int, help="random seed; the same seed gives the same file (default from config: 0)")
    p.add_argument("--temperature", type=float, help="sampling temperature (default from config: 0.7, as `sideman run`)")
    p.add_argument("--lead-policy", choices=("highest", "lowest", "latest"),
                   help="which of several held notes is the melody (default from config: highest)")
    p.add_argument("--key", help="keep to this key (\"D\", \"e minor\", \"F# minor\") instead of the one heard (default from config: none)")
    p.add_argument("--style", choices=("chorale", "band"), help="four-part chorale, or a band's bass and comping (default from config: chorale)")
    p.add_argument("--style-knob", type=float, metavar="X", help="band style: 0..1 from the first [band] anchor to the second (default from config: 0)")


def add_accompany_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Accompany the melody of a MIDI file. The output holds every track of MELODY.mid as it was "
                     "(mute what you like in your DAW), plus one track per part on channels the input does not use.")
    p.add_argument("melody", metavar="MELODY.mid", help="MIDI file holding the melody")
    p.add_argument("-o", "--output", required=True, metavar="JAM.mid",
                   help="where to write the input's tracks, as they were, plus the parts (never MELODY.mid itself)")
    p.add_argument("--tempo", type=float, metavar="BPM", help="one tempo for the whole piece (default: the file's own tempo map, else 120); "
                   "with --follow, the tempo the follower expects (default from config: 100)")
    p.add_argument("--follow", action="store_true", help="ignore the file's tempo grid and follow the melody's timing, "
                   "as `sideman run --clock follow` would (for a performance recorded without a click)")
    p.add_argument("--mode", choices=("accompany", "answer"), help="accompany the melody, or answer each of its phrases "
                   "in its pauses, as `sideman run --mode answer` would (default from config: accompany)")
    p.add_argument("--png", metavar="ROLL.png", help="also draw a piano roll of the result (needs matplotlib)")
    p.add_argument("--wav", metavar="OUT.wav", help="also render the result to audio (needs fluidsynth and a GM SoundFont; [audio] in the config)")
    p.add_argument("--track", type=int, metavar="N",
                   help="0-based track holding the melody (default: the highest, most single-note line of the file)")
    p.add_argument("--channel", type=int, metavar="N",
                   help="MIDI channel (1-16) of the melody; 10 (drums) is the melody only when given here")
    p.add_argument("--prompt", metavar="TEXT",
                   help="settings in words, e.g. \"safe, just bass\" (docs/prompts.md); flags given win over it")
    _add_common(p)


def _report(result: RenderResult, midi_path: Path, png_paths: list[Path], followed: bool = False) -> None:
    parts = sum(1 for n in result.notes if n.voice != "lead")
    what = "answer notes" if "answer" in result.voices else "part notes"
    b = result.beats
    if followed and len(b) > 4:  # the tempo of the first and of the last four beats followed
        tempo = f"following the melody from {240.0 / (b[4] - b[0]):.1f} to {240.0 / (b[-1] - b[-5]):.1f} BPM"
    elif followed:
        tempo = "following the melody (it never found the beat)"
    else:
        bpms = sorted({round(mido.tempo2bpm(t), 1) for t in result.tempo_map.tempos})
        tempo = f"at {bpms[0]:g} BPM" if len(bpms) == 1 else f"at {bpms[0]:g}-{bpms[-1]:g} BPM"
    print(f"wrote {midi_path}  ({result.bars:g} bars {tempo}, {parts} {what}, "
          f"{result.reanswers} late-note re-answers, {result.faults} model faults)")
    for path in png_paths:
        print(f"wrote {path}")


def _piano_roll(result: RenderResult, path: Path, title: str) -> list[Path]:
    from sideman.bridge.offline.pianoroll import save_piano_roll

    return save_piano_roll(result, path, title=title)


def cmd_accompany(args: argparse.Namespace) -> int:
    from sideman.bridge.errors import ConfigError, MissingDependencyError

    config = _config(args)
    if args.channel is not None and not 1 <= args.channel <= 16:
        raise ConfigError(f"--channel {args.channel}: MIDI channels are 1..16")
    refuse_overwriting(args.melody, args.output, args.png, args.wav)
    synth = audio.find_synth(config.audio) if args.wav else None  # before the render: a missing synth fails fast
    melody = read_melody(args.melody, args.track, None if args.channel is None else args.channel - 1)
    given = tuple(slot for slot, flag in (("temperature", args.temperature), ("tempo", args.tempo), ("key", args.key),
                                          ("style", args.style), ("style_knob", args.style_knob)) if flag is not None)
    model, settings, hearing = _model_and_settings(config, args.prompt, given)
    moved = place_parts(settings.part_channels, melody.used_channels())[1]
    print(melody.describe())
    if moved:
        print(moved)
    answerer = build_answerer(config, settings.part_channels, switchable=False)
    if args.follow:
        clock = FollowClock(config.bridge.tempo, model.contract.steps_per_beat)
        result = render(melody, model, settings, progress=True, clock=clock, answerer=answerer, **hearing)
    else:
        result = render(melody, model, settings, tempo_bpm=args.tempo, progress=True, answerer=answerer, **hearing)
    midi_path = result.save(args.output)
    try:
        png_paths = _piano_roll(result, Path(args.png), f"{Path(args.melody).name} + {model.contract.name}") if args.png else []
    except MissingDependencyError as exc:
        _report(result, midi_path, [], args.follow)
        raise MissingDependencyError(f"{args.png} not drawn: {exc}") from None
    _report(result, midi_path, png_paths, args.follow)
    if synth:
        print(audio.write_wav(result.midi, result.part_channels, args.wav, config.audio, synth))
    return 0


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out-dir", metavar="DIR", default=".", help="where to write sideman-demo.mid, .png and .wav (default: here; the .png needs matplotlib, the .wav fluidsynth)")
    p.add_argument("--no-wav", dest="wav", action="store_false", help="skip the audio (faster)")
    _add_common(p)


def cmd_demo(args: argparse.Namespace) -> int:
    from sideman.bridge.errors import MissingDependencyError

    config = _config(args)
    model, settings, hearing = _model_and_settings(config)
    result = render(DEMO_MELODY, model, settings, **hearing)
    out_dir = Path(args.out_dir)
    midi_path = result.save(out_dir / "sideman-demo.mid")
    png = out_dir / "sideman-demo.png"
    try:
        png_paths = _piano_roll(result, png, f"Old Hundredth + {model.contract.name} (seed {settings.seed})")
    except MissingDependencyError as exc:
        png_paths = []
        missing = f"{png.name} not drawn: {exc}"
    else:
        missing = ""
    _report(result, midi_path, png_paths)
    if args.wav:
        print(audio.demo_wav(result.midi, result.part_channels, out_dir / "sideman-demo.wav", config.audio))
    if missing:
        print(missing)
    return 0
